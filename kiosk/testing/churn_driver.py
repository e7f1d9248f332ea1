"""Child process for the churn test/bench: one bot joins and leaves on command.

stdin ``join`` → a bot joins and publishes, prints ``JOINED <connection id>``;
stdin ``leave`` → it leaves, prints ``LEFT``; EOF or ``quit`` ends the process.
Usage: python -m kiosk.testing.churn_driver SERVER_URL
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from kiosk.bot import Bot, BotOptions, run_bots
from kiosk.media import ice, patches


async def main(url: str) -> None:
    settings = ice.IceSettings.loopback()
    patches.install(settings)  # this child process's entry point
    loop = asyncio.get_running_loop()
    n = 0
    stop: asyncio.Event | None = None
    task: asyncio.Task[list[Bot]] | None = None
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "join" and task is None:
            n += 1
            stop = asyncio.Event()
            started: list[Bot] = []
            task = asyncio.create_task(
                run_bots(
                    BotOptions(
                        server=url,
                        session="Room",
                        secret="MY_SECRET",
                        name=f"Churn {n}",
                        ice=settings,
                        width=320,
                        height=240,
                        fps=15,
                        audio=True,
                    ),
                    stop,
                    on_started=started.extend,
                )
            )
            await asyncio.sleep(0)  # run_bots calls on_started before its first await
            if not started:
                await asyncio.wait_for(task, 20)  # it failed before starting: show why
                raise SystemExit("churn driver: bots did not start")
            await asyncio.wait_for(started[0].joined.wait(), 20)
            print(f"JOINED {started[0].connection_id}", flush=True)
        elif line == "leave" and task is not None and stop is not None:
            stop.set()
            await asyncio.wait_for(task, 20)
            task = None
            print("LEFT", flush=True)
        elif line in ("", "quit"):
            if stop is not None:
                stop.set()
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
            return


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
