"""A process that runs only the fleet link with a FakeKiosk (for SIGKILL and flood tests).

python fleet_child.py PORT ROOM PASSWORD_FILE
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from kiosk.fleet.client import FleetClient
from kiosk.fleet.fake import FakeKiosk
from kiosk.fleet.settings import BrokerAddress, FleetSettings


async def main(port: int, room: str, password: str) -> None:
    settings = FleetSettings(
        broker=BrokerAddress("127.0.0.1", port, False),
        room_id=room,
        room_name=room,
        client_id=f"kiosk-{room}",
        topic_prefix=f"kiosk/{room}",
        username=room,
        password=password,
        backoff_initial=0.2,
        backoff_cap=1.0,
    )
    await FleetClient(settings, FakeKiosk()).run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]).read_text().strip()))
