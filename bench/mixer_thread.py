"""The audio mixer's cost on the loop thread: mixing on the loop (before) vs on its own thread.

    .venv/bin/python bench/mixer_thread.py [--participants 8] [--seconds 10] [--rounds 3]

Each round runs both modes side by side, in one process, on the same pre-decoded frames:
``loop`` feeds every participant's 20 ms frames from loop tasks and mixes + writes on the loop
every 20 ms (the mixer before this change); ``thread`` feeds the same way and lets
``AudioMixer.start`` mix and write on its thread. Reported: CPU ms per second of wall time of
the loop thread and of the mixer thread (from /proc/self/task/<tid>/schedstat), and the ratio.
The output is a null speaker (the write itself is not what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path

import av
import numpy as np

from kiosk.media.devices import NullAudioOutput
from kiosk.media.sinks import AudioMixer


def _cpu_ns(tid: int | None) -> int:
    if tid is None:
        return 0
    try:
        return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _frames(hz: float, count: int) -> list[av.AudioFrame]:
    """Opus-decoder-like frames: 20 ms of s16 stereo at 48 kHz."""
    out = []
    for i in range(count):
        t = (np.arange(960) + i * 960) / 48000
        mono = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = i * 960
        out.append(frame)
    return out


async def _run(
    mode: str, frames: dict[str, list[av.AudioFrame]], seconds: float
) -> dict[str, float]:
    mixer = AudioMixer(48000, 2, max_buffer_ms=100)
    output = NullAudioOutput()
    loop = asyncio.get_running_loop()
    stop = loop.time() + seconds

    async def feeder(pid: str, items: list[av.AudioFrame]) -> None:
        start, n = loop.time(), 0
        while loop.time() < stop:
            mixer.feed(pid, items[n % len(items)])
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    async def loop_player() -> None:  # the mixer's playback before it had a thread
        start, n = loop.time(), 0
        while loop.time() < stop:
            n += 1
            output.write(mixer.mix(960))
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    main_tid = threading.main_thread().native_id
    if mode == "thread":
        mixer.start(output)
    mixer_tid = mixer._thread.native_id if mixer._thread is not None else None
    wall0, loop0, mix0 = time.monotonic(), _cpu_ns(main_tid), _cpu_ns(mixer_tid)
    tasks = [feeder(pid, items) for pid, items in frames.items()]
    if mode == "loop":
        tasks.append(loop_player())
    await asyncio.gather(*tasks)
    wall = time.monotonic() - wall0
    loop_ms = (_cpu_ns(main_tid) - loop0) / 1e6 / wall
    mix_ms = (_cpu_ns(mixer_tid) - mix0) / 1e6 / wall
    await mixer.close()
    return {
        "loop_thread_ms_per_s": round(loop_ms, 2),
        "mixer_thread_ms_per_s": round(mix_ms, 2),
        "samples_written_s": round(output.samples_written / 48000, 2),
        "inbox_dropped": mixer.inbox_dropped,
    }


async def main(args: argparse.Namespace) -> None:
    frames = {f"con_{i}": _frames(300 + 50 * i, 50) for i in range(args.participants)}
    rows = []
    for r in range(args.rounds):
        for mode in ("loop", "thread") if r % 2 == 0 else ("thread", "loop"):
            result = await _run(mode, frames, args.seconds)
            rows.append({"round": r, "mode": mode, **result})
            print(json.dumps(rows[-1]), flush=True)
    loop_med = float(np.median([x["loop_thread_ms_per_s"] for x in rows if x["mode"] == "loop"]))
    thr_med = float(np.median([x["loop_thread_ms_per_s"] for x in rows if x["mode"] == "thread"]))
    print(
        json.dumps(
            {
                "participants": args.participants,
                "loop_thread_ms_per_s_before": loop_med,
                "loop_thread_ms_per_s_after": thr_med,
                "after_over_before": round(thr_med / loop_med, 3) if loop_med else None,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
