"""In-process smoke checks run by tools/aarch64-smoke.sh inside the emulated aarch64 Python.

Each check prints one line; any failure raises (non-zero exit). Runs without network and
without subprocesses (the emulator cannot start other aarch64 programs without binfmt).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
import sys
import tempfile

RUNTIME_MODULES = (
    "aiortc",
    "aioice",
    "pylibsrtp",
    "av",
    "pygame",
    "httpx",
    "websockets",
    "yaml",
    "gpiozero",
    "aiohttp",
    "pydantic",
    "cryptography",
    "numpy",
    "lgpio",
)


def command_modules() -> list[str]:
    """The module behind every ``kiosk`` command, as the CLI names them (run, demo, bot…)."""
    from kiosk import cli

    return ["kiosk.cli", *(module for module, _help in cli._COMMANDS.values())]


# What SDL's KMSDRM backend opens at run time on the Pi (Debian packages libdrm2, libgbm1,
# libegl1, libgles2; install.sh installs them).
# Set by aarch64-smoke.sh where the root cannot have lgpio (Debian trixie); says why.
NO_LGPIO = os.environ.get("KIOSK_SMOKE_NO_LGPIO", "")

KMSDRM_LIBRARIES = ("libdrm.so.2", "libgbm.so.1", "libEGL.so.1", "libGLESv2.so.2")


def check_platform() -> None:
    assert platform.machine() == "aarch64", platform.machine()
    print(f"python {platform.python_version()} on {platform.machine()}")


def check_imports() -> None:
    names = [*RUNTIME_MODULES, *command_modules()]
    for name in names:
        if name == "lgpio" and NO_LGPIO:
            continue
        importlib.import_module(name)
    print(f"imports ok: {len(names)} modules (runtime dependencies and every kiosk command)")


def check_lgpio() -> None:
    if NO_LGPIO:
        print(f"lgpio NOT checked: {NO_LGPIO}")
        return
    # lgpio creates its notify pipes in the working directory on import: a writable one here.
    with tempfile.TemporaryDirectory() as wd:
        os.chdir(wd)
        lgpio = importlib.import_module("lgpio")
        # The 0.0.0.2 placeholder on the index is an empty module; the real one has gpiochip_open.
        assert hasattr(lgpio, "gpiochip_open"), "lgpio is the empty placeholder package"
        os.chdir("/")
    print(f"lgpio {getattr(lgpio, 'LGPIO_PY_VERSION', '?')} real module")


def check_kmsdrm_libraries() -> None:
    for name in KMSDRM_LIBRARIES:
        ctypes.CDLL(name)
    print("KMSDRM libraries load: " + ", ".join(KMSDRM_LIBRARIES))


def check_vp8_rtp_round_trip() -> None:
    import av
    import numpy as np
    from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtp import RtpPacket

    width, height = 320, 240
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[:, : width // 2] = (200, 30, 30)  # left half red, right half black
    encoder, decoder = Vp8Encoder(), Vp8Decoder()
    decoded = []
    seq = 0
    for index in range(3):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = index * 3000
        frame.time_base = __import__("fractions").Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        data = b""
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=96,
                marker=int(i == len(payloads) - 1),
                sequence_number=seq,
                timestamp=timestamp,
                payload=payload,
            )
            seq += 1
            wire = packet.serialize()
            data += vp8_depayload(RtpPacket.parse(wire).payload)
        decoded += decoder.decode(JitterFrame(data=data, timestamp=timestamp))
    assert decoded, "the decoder returned no frame"
    out = decoded[-1].to_ndarray(format="rgb24")
    assert out.shape == (height, width, 3), out.shape
    left, right = out[:, : width // 4].mean(axis=(0, 1)), out[:, -width // 4 :].mean(axis=(0, 1))
    assert left[0] > 150 and right[0] < 50, (left, right)
    print(f"VP8 encode→RTP→decode: {len(decoded)} frames {width}x{height}, colours kept")


def check_srtp_round_trip() -> None:
    from pylibsrtp import Policy, Session

    key = bytes(range(30))
    tx = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    rtp = bytes.fromhex("8060000100000001deadbeef") + b"kiosk-aarch64" * 10
    protected = tx.protect(rtp)
    assert protected != rtp and len(protected) > len(rtp)
    assert rx.unprotect(protected) == rtp
    print(f"SRTP protect/unprotect: {len(rtp)} → {len(protected)} → {len(rtp)} bytes")


def check_pygame_text_frame() -> None:
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    import pygame

    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode((640, 360))
        screen.fill((0, 0, 0))
        text = pygame.font.Font(None, 48).render("Meeting room 4.01", True, (255, 255, 255))
        rect = screen.blit(text, (20, 20))
        pygame.display.flip()
        lit = sum(
            1
            for x in range(rect.left, rect.right)
            for y in range(rect.top, rect.bottom)
            if screen.get_at((x, y))[0] > 128
        )
        assert lit > 200, f"only {lit} text pixels drawn"
        print(f"pygame {pygame.version.ver} dummy frame with text: {lit} lit pixels")
    finally:
        pygame.quit()


def main() -> int:
    check_platform()
    check_imports()
    check_lgpio()
    check_kmsdrm_libraries()
    check_vp8_rtp_round_trip()
    check_srtp_round_trip()
    check_pygame_text_frame()
    return 0


if __name__ == "__main__":
    sys.exit(main())
