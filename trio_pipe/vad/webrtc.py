"""The default VAD backend: the WebRTC voice activity detector (``webrtcvad-wheels``).

WebRTC's detector is a small Gaussian-mixture model over band energies, written in C,
with no model file to ship or download. It answers voiced / unvoiced for 10, 20 or
30 ms of audio at 8, 16, 32 or 48 kHz; this analyzer gives it 20 ms windows, and
resamples other rates (24 kHz, 44.1 kHz...) to 16 kHz through :mod:`trio_pipe.audio`.
Its answer becomes a confidence of 1.0 or 0.0, so ``params.confidence`` only matters
as "above zero"; ``aggressiveness`` (0..3) is how the detector itself trades missed
speech against false alarms.
"""

from __future__ import annotations

import webrtcvad

from trio_pipe.audio import Resampler
from trio_pipe.vad.analyzer import VADAnalyzer, VADParams

__all__ = ["WebRTCVADAnalyzer"]

_NATIVE_RATES = (8000, 16000, 32000, 48000)
_WINDOW_SECS = 0.02
_FALLBACK_RATE = 16000


class WebRTCVADAnalyzer(VADAnalyzer):
    """VAD on WebRTC's detector (see the module docstring).

    Args:
        sample_rate: the audio's rate (default: the pipeline's input rate).
        params: thresholds; Pipecat's defaults.
        aggressiveness: 0 (least) .. 3 (most eager to call audio unvoiced).
    """

    def __init__(
        self,
        *,
        sample_rate: int | None = None,
        params: VADParams | None = None,
        aggressiveness: int = 3,
    ) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0..3, got {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._resampler: Resampler | None = None
        self._native_bytes = 0
        super().__init__(sample_rate=sample_rate, params=params)

    def num_frames_required(self) -> int:
        """20 ms of samples at the analysed rate."""
        return int(self.sample_rate * _WINDOW_SECS)

    def set_sample_rate(self, sample_rate: int) -> None:
        """Set the rate; a rate WebRTC cannot read is resampled to 16 kHz."""
        super().set_sample_rate(sample_rate)
        rate = self.sample_rate
        if rate in _NATIVE_RATES:
            self._resampler = None
            self._native_bytes = int(rate * _WINDOW_SECS) * 2
        else:
            self._resampler = Resampler(rate, _FALLBACK_RATE, 1)
            self._native_bytes = int(_FALLBACK_RATE * _WINDOW_SECS) * 2

    def voice_confidence(self, buffer: bytes) -> float:
        """1.0 if WebRTC calls the window voiced, else 0.0."""
        rate = self.sample_rate
        if self._resampler is not None:
            buffer = self._resampler.resample(buffer)
            rate = _FALLBACK_RATE
        size = self._native_bytes
        if len(buffer) != size:  # the resampler may be a sample off
            buffer = buffer[:size].ljust(size, b"\x00")
        return 1.0 if self._vad.is_speech(buffer, rate) else 0.0
