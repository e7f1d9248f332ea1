"""Device specs: synthetic sources, missing devices reported (never raised), speaker outputs."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import DeviceUnavailable
from kiosk.media.devices import (
    NullAudioOutput,
    SdlAudioOutput,
    open_audio_output,
    open_camera,
    open_local_media,
    open_microphone,
)
from kiosk.media.testpattern import TestPatternTrack
from kiosk.media.tone import ToneTrack


def test_synthetic_and_none_specs() -> None:
    media = open_local_media("test-pattern", "test-tone", "Lobby")
    try:
        assert isinstance(media.video, TestPatternTrack)
        assert isinstance(media.audio, ToneTrack)
        assert media.problems == [] and media.can_publish
        assert media.type_of_video == "CUSTOM"
    finally:
        media.close()
    assert media.video is not None and media.video.readyState == "ended"
    nothing = open_local_media("none", "none", "Lobby")
    assert nothing.audio is None and nothing.video is None and not nothing.can_publish
    assert nothing.problems == []


def test_missing_camera_raises_a_one_line_error_naming_it() -> None:
    with pytest.raises(DeviceUnavailable) as info:
        open_camera("v4l2:/dev/video97", "Lobby")
    message = str(info.value)
    assert "/dev/video97" in message and "camera" in message and "\n" not in message
    assert info.value.kind == "camera" and info.value.device == "/dev/video97"


def test_missing_microphone_raises_device_unavailable() -> None:
    with pytest.raises(DeviceUnavailable) as info:
        open_microphone("alsa:kiosk_no_such_pcm")
    assert "kiosk_no_such_pcm" in str(info.value) and "microphone" in str(info.value)


def test_open_local_media_reports_missing_devices_and_keeps_the_rest() -> None:
    media = open_local_media("/dev/video98", "test-tone", "Lobby")
    try:
        assert media.video is None and isinstance(media.audio, ToneTrack)
        assert len(media.problems) == 1 and "/dev/video98" in media.problems[0]
    finally:
        media.close()
    media = open_local_media("/dev/video98", "alsa:kiosk_no_such_pcm", "Lobby")
    assert media.audio is None and media.video is None and len(media.problems) == 2


def test_speaker_outputs() -> None:
    out, problem = open_audio_output("none")
    assert isinstance(out, NullAudioOutput) and problem is None
    out.write(np.zeros(960 * 2, dtype=np.int16))
    assert out.samples_written == 960
    # SDL with the dummy audio driver of the test environment
    sdl, problem = open_audio_output("default")
    try:
        assert problem is None and isinstance(sdl, SdlAudioOutput)
        for _ in range(3):
            sdl.write(np.zeros(960 * 2, dtype=np.int16))
    finally:
        sdl.close()
