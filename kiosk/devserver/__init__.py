"""A local OpenVidu 2.22-compatible development server (REST + JSON-RPC signaling).

See ``docs/devserver.md``. Entry points live in :mod:`kiosk.devserver.server`.
"""
