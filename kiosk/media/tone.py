"""A synthetic microphone: a sine tone in 20 ms s16 frames, paced in real time."""

from __future__ import annotations

import fractions
import math

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from kiosk.media.pacing import Pacer

FRAME_SECONDS = 0.020


class ToneTrack(MediaStreamTrack):
    """An audio track playing a continuous sine tone (phase-continuous across frames)."""

    kind = "audio"

    def __init__(
        self,
        frequency_hz: float = 440.0,
        sample_rate: int = 48000,
        *,
        channels: int = 1,
        amplitude: float = 0.3,
    ) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError("tone channels must be 1 or 2")
        if not 0.0 <= amplitude <= 1.0:
            raise ValueError("tone amplitude must be within 0..1")
        self.frequency_hz = frequency_hz
        self.sample_rate = sample_rate
        self.channels = channels
        self.amplitude = amplitude
        self.samples_per_frame = int(sample_rate * FRAME_SECONDS)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._pacer = Pacer(sample_rate)
        self._sent = 0  # samples produced so far
        self.silent = False  # when True the track keeps its pace but sends zeros

    def _samples(self) -> np.ndarray:
        n = self.samples_per_frame
        if self.silent or self.frequency_hz <= 0:
            mono = np.zeros(n, dtype=np.int16)
        else:
            t = (np.arange(n, dtype=np.float64) + self._sent) / self.sample_rate
            wave = np.sin(2 * math.pi * self.frequency_hz * t) * (self.amplitude * 32767)
            mono = wave.astype(np.int16)
        if self.channels == 1:
            return mono.reshape(1, n)
        return np.repeat(mono, 2).reshape(1, n * 2)  # packed s16 stereo: L R L R …

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._sent)
        layout = "mono" if self.channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(self._samples(), format="s16", layout=layout)
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = self._time_base
        self._sent += self.samples_per_frame
        return frame
