"""Test tools that ship with kiosk (fault injection for the reliability suite and benches)."""
