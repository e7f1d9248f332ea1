"""Local devices: camera, microphone, speaker — and their synthetic stand-ins.

Specs (from the config, mapped by ``kiosk/app``):

* camera: ``"auto"`` (the first camera, :mod:`kiosk.media.cameras`), ``"test-pattern"``,
  ``"none"``, a V4L2 device (``"/dev/video0"`` or ``"v4l2:/dev/video0"``);
* microphone: ``"test-tone"``, ``"none"``, ``"default"`` / ``"alsa:<pcm>"`` (ALSA),
  ``"pulse:<source>"`` (PulseAudio / pipewire-pulse) or ``"pipewire:<node>"`` — both recorded
  through ``parec`` (``pw-record`` if parec is missing), see ``kiosk/media/pulse.py``;
* speaker: ``"default"``, ``"none"``, ``"alsa:<pcm>"`` / an ALSA name such as ``"hw:1,0"``, or
  ``"pulse:<sink>"``.

Opening a real device raises :class:`DeviceUnavailable` naming it and saying why (missing, busy,
not permitted). :func:`open_local_media` never raises for a missing device: it reports the
problem so the kiosk can join receiving only and say so on screen.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamTrack

from kiosk.errors import DeviceUnavailable
from kiosk.media.audio_devices import PROC_ASOUND, read_alsa_cards
from kiosk.media.cameras import find_camera
from kiosk.media.testpattern import TestPatternTrack
from kiosk.media.tone import ToneTrack

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True)
class CameraSettings:
    width: int = 640
    height: int = 480
    fps: int = 30
    input_format: str | None = None  # e.g. "mjpeg", "yuyv422"


def _why(exc: BaseException) -> str:
    """A short, user-facing reason for an open failure."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT or code == errno.ENODEV:
        return "no such device (is it plugged in?)"
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return "permission denied (is the user in the video/audio group?)"
    if code == errno.EBUSY:
        return "busy (another program is using it)"
    if code == errno.EIO:
        return "cannot be opened (no such device, or busy)"
    if "no container format" in str(exc):
        return "this input type is not supported by the installed PyAV/FFmpeg"
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__


def _player(kind: str, device: str, fmt: str, options: dict[str, str]) -> Any:
    from aiortc.contrib.media import MediaPlayer

    try:
        return MediaPlayer(device, format=fmt, options=options)
    except Exception as exc:  # PyAV raises av.error.* (OSError subclasses) and ValueError
        raise DeviceUnavailable(kind, device, _why(exc)) from exc


def open_camera(
    spec: str, name: str, settings: CameraSettings = CameraSettings()
) -> MediaStreamTrack | None:
    """The video track for a camera spec; None for ``"none"``. Raises DeviceUnavailable."""
    spec = spec.strip()
    if spec in ("", "none"):
        return None
    if spec == "test-pattern":
        return TestPatternTrack(name, settings.width, settings.height, settings.fps)
    if spec == "auto":
        found = find_camera()
        if found is None:
            raise DeviceUnavailable(
                "camera", "auto", "no camera found (plug one in, or set media.camera.device: none)"
            )
        spec = found
    device = spec[len("v4l2:") :] if spec.startswith("v4l2:") else spec
    if not os.path.exists(device):
        raise DeviceUnavailable("camera", device, "no such device (is it plugged in?)")
    options = {
        "video_size": f"{settings.width}x{settings.height}",
        "framerate": str(settings.fps),
    }
    if settings.input_format:
        options["input_format"] = settings.input_format
    player = _player("camera", device, "v4l2", options)
    if player.video is None:
        raise DeviceUnavailable("camera", device, "it delivers no video")
    track: MediaStreamTrack = player.video
    return track


def open_microphone(spec: str) -> MediaStreamTrack | None:
    """The audio track for a microphone spec; None for ``"none"``. Raises DeviceUnavailable."""
    spec = spec.strip()
    if spec in ("", "none"):
        return None
    if spec == "test-tone":
        return ToneTrack(440.0)
    for prefix in ("pulse:", "pipewire:"):
        if spec.startswith(prefix):
            # the pip PyAV has no PulseAudio input: record through parec / pw-record
            from kiosk.media.pulse import open_pulse_microphone

            return open_pulse_microphone(spec[len(prefix) :] or "default")
    if spec.startswith("alsa:"):
        fmt, device = "alsa", spec[len("alsa:") :] or "default"
    else:
        fmt, device = "alsa", spec
    if no_sound_at_all():  # ALSA would print its "ALSA lib …" lines before failing
        raise DeviceUnavailable("microphone", device, NO_SOUND)
    player = _player("microphone", device, fmt, {"channels": "1", "sample_rate": "48000"})
    if player.audio is None:
        raise DeviceUnavailable("microphone", device, "it delivers no audio")
    track: MediaStreamTrack = player.audio
    return track


NO_SOUND = "no sound card and no sound server on this machine"


def no_sound_at_all(proc_asound: Path = PROC_ASOUND, runtime_dir: str | None = None) -> bool:
    """True when neither ALSA lists a card nor a PulseAudio/PipeWire socket exists."""
    try:
        if read_alsa_cards(proc_asound):
            return False
    except OSError:
        return False  # cannot tell: let ALSA answer
    runtime = runtime_dir or os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    sockets = ("pulse/native", "pipewire-0")
    if os.environ.get("PULSE_SERVER"):
        return False
    return not any(os.path.exists(os.path.join(runtime, name)) for name in sockets)


@dataclass
class LocalMedia:
    """What we can publish. ``problems`` are one-liners for the screen ("camera … unavailable")."""

    audio: MediaStreamTrack | None
    video: MediaStreamTrack | None
    problems: list[str] = field(default_factory=list)
    type_of_video: str = "CUSTOM"
    video_dimensions: tuple[int, int] | None = None
    frame_rate: int = 30

    @property
    def can_publish(self) -> bool:
        return self.audio is not None or self.video is not None

    def close(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


def open_local_media(
    camera_spec: str,
    mic_spec: str,
    name: str,
    camera_settings: CameraSettings = CameraSettings(),
) -> LocalMedia:
    """Open camera and microphone; a device that cannot be opened becomes a problem line."""
    problems: list[str] = []
    video: MediaStreamTrack | None = None
    audio: MediaStreamTrack | None = None
    try:
        video = open_camera(camera_spec, name, camera_settings)
    except DeviceUnavailable as exc:
        problems.append(str(exc))
        log.warning("%s", exc)
    try:
        audio = open_microphone(mic_spec)
    except DeviceUnavailable as exc:
        problems.append(str(exc))
        log.warning("%s", exc)
    synthetic = camera_spec.strip() == "test-pattern"
    return LocalMedia(
        audio=audio,
        video=video,
        problems=problems,
        type_of_video="CUSTOM" if synthetic or video is None else "CAMERA",
        video_dimensions=(camera_settings.width, camera_settings.height) if video else None,
        frame_rate=camera_settings.fps,
    )


# --- speaker -------------------------------------------------------------------------------


class AudioOutput(Protocol):
    """Where the mixed room audio goes (interleaved s16 at ``sample_rate``/``channels``)."""

    sample_rate: int
    channels: int

    def write(self, pcm: Pcm) -> None: ...

    def close(self) -> None: ...


class NullAudioOutput:
    """Discards audio (``speaker: none`` or no usable device); counts what it got."""

    def __init__(self, sample_rate: int = 48000, channels: int = 2) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples_written = 0

    def write(self, pcm: Pcm) -> None:
        self.samples_written += pcm.size // self.channels

    def close(self) -> None:
        pass


class SdlAudioOutput:
    """Plays through SDL (pygame.mixer). Thin: one channel, the next chunk queued behind it.

    If the device falls behind, the queued chunk is replaced (audio dropped, never delayed).
    """

    def __init__(
        self,
        device: str = "default",
        sample_rate: int = 48000,
        channels: int = 2,
        *,
        env: Callable[[str, str], None] | None = None,
    ) -> None:
        import pygame.mixer

        self.sample_rate = sample_rate
        self.channels = channels
        self.device = device
        set_env = env or os.environ.__setitem__
        devicename: str | None = None
        if (
            device in ("", "default")
            and os.environ.get("SDL_AUDIODRIVER", "") in ("", "alsa")
            and no_sound_at_all()
        ):
            # Without this SDL falls back to ALSA, which prints 8 "ALSA lib …" lines first.
            raise DeviceUnavailable("speaker", device, NO_SOUND)
        if device.startswith("pulse:"):
            set_env("SDL_AUDIODRIVER", "pulseaudio")
            if device[len("pulse:") :]:
                set_env("PULSE_SINK", device[len("pulse:") :])
        elif device.startswith("alsa:") or (device not in ("", "default")):
            name = device[len("alsa:") :] if device.startswith("alsa:") else device
            set_env("SDL_AUDIODRIVER", "alsa")
            set_env("AUDIODEV", name)
        try:
            pygame.mixer.init(
                frequency=sample_rate,
                size=-16,
                channels=channels,
                buffer=512,
                devicename=devicename,
            )
            self._channel = pygame.mixer.Channel(0)
        except Exception as exc:  # pygame.error
            raise DeviceUnavailable("speaker", device, _why(exc)) from exc
        self._mixer = pygame.mixer
        self._closed = False

    def write(self, pcm: Pcm) -> None:
        if self._closed:
            return
        sound = self._mixer.Sound(buffer=np.ascontiguousarray(pcm, dtype=np.int16).tobytes())
        if self._channel.get_busy():
            self._channel.queue(sound)  # replaces an older queued chunk
        else:
            self._channel.play(sound)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._mixer.quit()


def open_audio_output(
    spec: str, sample_rate: int = 48000, channels: int = 2
) -> tuple[AudioOutput, str | None]:
    """The speaker for a spec, or a NullAudioOutput plus the problem line if it fails."""
    spec = spec.strip()
    if spec in ("", "none"):
        return NullAudioOutput(sample_rate, channels), None
    try:
        return SdlAudioOutput(spec, sample_rate, channels), None
    except DeviceUnavailable as exc:  # the caller says it (once)
        return NullAudioOutput(sample_rate, channels), str(exc)
