"""kiosk: an OpenVidu 2.x meeting-room appliance client."""

__version__ = "0.1.0"
