"""Test tools that ship with kiosk, like gpiozero's mock pins: typed, used by tests and benches.

* :mod:`kiosk.testing.waits` — :func:`~kiosk.testing.waits.wait_until`, polling with a deadline;
* :mod:`kiosk.testing.configs` — a kiosk configuration on loopback (YAML text or parsed);
* :mod:`kiosk.testing.rooms` — an in-process dev server with real media plus publishing bots;
* :mod:`kiosk.testing.fixtures` — pytest fixtures (``loopback_ice``: install and restore the
  process-wide aioice/aiortc patches of :mod:`kiosk.media.patches`);
* :mod:`kiosk.testing.certs` — a self-signed certificate written to PEM files;
* :mod:`kiosk.testing.tcpproxy` — a loopback TCP proxy for network fault injection.

Nothing here opens a socket beyond 127.0.0.1, and every wait is bounded.
"""
