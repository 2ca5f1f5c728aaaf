"""How loud the last 400 ms of audio were, from 0 (quiet) to 1 (loud). Pure.

The level is the mean power of a rolling 400 ms window (one BS.1770 gating block), in
dB relative to full scale with BS.1770's -0.691 dB offset, so it reads like LUFS for
speech; below the absolute gate (-70) it is silence. It maps -110..-10 onto 0..1, the
scale Pipecat's ``min_volume`` is written against (0.6 is about -50). It applies no
K-weighting filter, unlike Pipecat's ``pyloudnorm`` measure: for speech the two differ
by a few dB, a small fraction of the 100 dB scale.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["VOLUME_WINDOW_SECS", "VolumeMeter", "normalized_loudness"]

VOLUME_WINDOW_SECS = 0.4
_GATE = -70.0
_FLOOR, _CEILING = -110.0, -10.0


def normalized_loudness(pcm: bytes | bytearray) -> float:
    """The 0..1 loudness of PCM16 mono ``pcm`` (0 for empty or gated-out audio)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if samples.size == 0:
        return 0.0
    x = samples.astype(np.float32) / 32768.0
    power = float(np.dot(x, x)) / samples.size
    if power <= 0.0:
        return 0.0
    level = -0.691 + 10.0 * math.log10(power)
    if level < _GATE:
        return 0.0
    return min(1.0, max(0.0, (level - _FLOOR) / (_CEILING - _FLOOR)))


class VolumeMeter:
    """Loudness of the last :data:`VOLUME_WINDOW_SECS` of a mono PCM16 stream.

    Reads 0 until the window is full, as Pipecat's tracker does; a change of sample rate
    empties the window.
    """

    __slots__ = ("_buffer", "_rate", "_window_bytes")

    def __init__(self) -> None:
        self._rate = 0
        self._window_bytes = 0
        self._buffer = bytearray()

    def update(self, pcm: bytes, sample_rate: int) -> float:
        """Add ``pcm`` and return the window's loudness."""
        if sample_rate != self._rate:
            self._rate = sample_rate
            self._window_bytes = math.ceil(VOLUME_WINDOW_SECS * sample_rate) * 2
            self._buffer = bytearray()
        buffer = self._buffer
        buffer += pcm
        extra = len(buffer) - self._window_bytes
        if extra > 0:
            del buffer[:extra]
        if len(buffer) < self._window_bytes:
            return 0.0
        return normalized_loudness(buffer)
