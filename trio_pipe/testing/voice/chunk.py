"""AudioChunk: the one audio format inside the voice test adapter (PCM16, mono, 24 kHz).

Every protocol converts to this format when audio arrives and from it when audio leaves
(see ``trio_pipe.audio``), so test code, turn logic and recordings never deal with rates,
channels or codecs.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

__all__ = [
    "PCM16_CHANNELS",
    "PCM16_SAMPLE_RATE",
    "PCM16_SAMPLE_WIDTH_BYTES",
    "AudioChunk",
    "silent_chunk",
    "tone_chunk",
    "utterance_chunk",
]

PCM16_SAMPLE_RATE = 24000
PCM16_CHANNELS = 1
PCM16_SAMPLE_WIDTH_BYTES = 2


def _to_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


def _whole_samples(_instance: object, _attribute: object, data: bytes) -> None:
    # An odd length means a transport split a sample; accepting it would shift every later
    # sample by one byte (loud noise), so it is refused where audio enters the format.
    if len(data) % PCM16_SAMPLE_WIDTH_BYTES:
        raise ValueError(
            f"AudioChunk.data has {len(data)} bytes, not a whole number of PCM16 samples "
            f"({PCM16_SAMPLE_WIDTH_BYTES} bytes each); a protocol must hold a split sample "
            "until the next message"
        )


@attrs.define(eq=True)
class AudioChunk:
    """A piece of audio: PCM16 little-endian, mono, 24000 Hz.

    ``data`` may be ``bytes``, ``bytearray`` or ``memoryview`` (kept as ``bytes``); an odd
    length raises ``ValueError``, here and on assignment or ``attrs.evolve``. Empty data is
    valid: :meth:`VoiceAgentAdapter.recv_audio` returns an empty chunk at a clean end of
    stream. ``transcript``, ``start_time`` and ``end_time`` are optional metadata.
    """

    data: bytes = attrs.field(converter=_to_bytes, validator=_whole_samples)
    transcript: str | None = None
    start_time: float | None = None
    end_time: float | None = None

    @property
    def sample_rate(self) -> int:
        """Always 24000."""
        return PCM16_SAMPLE_RATE

    @property
    def channels(self) -> int:
        """Always 1."""
        return PCM16_CHANNELS

    @property
    def num_samples(self) -> int:
        """Number of samples in ``data``."""
        return len(self.data) // PCM16_SAMPLE_WIDTH_BYTES

    @property
    def duration_seconds(self) -> float:
        """Length in seconds; 0.0 for an empty chunk."""
        if not self.data:
            return 0.0
        return (len(self.data) // PCM16_SAMPLE_WIDTH_BYTES) / PCM16_SAMPLE_RATE


def silent_chunk(duration_seconds: float) -> AudioChunk:
    """``int(duration_seconds * 24000)`` zero samples."""
    return AudioChunk(data=bytes(int(duration_seconds * PCM16_SAMPLE_RATE) * 2))


def tone_chunk(
    duration_seconds: float, frequency: float = 440.0, amplitude: float = 0.3
) -> AudioChunk:
    """A sine tone (``amplitude`` is a fraction of full scale), with 5 ms fades at both ends."""
    n = int(duration_seconds * PCM16_SAMPLE_RATE)
    t = np.arange(n) / PCM16_SAMPLE_RATE
    wave = np.sin(2 * math.pi * frequency * t) * amplitude
    fade = min(n // 2, int(0.005 * PCM16_SAMPLE_RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[n - fade :] *= ramp[::-1]
    return AudioChunk(data=(wave * 32767).astype("<i2").tobytes())


def utterance_chunk(duration_seconds: float = 1.5, pitch: float = 140.0) -> AudioChunk:
    """A speech-like test signal: voiced syllables (a harmonic buzz, gliding pitch, syllable
    envelopes) separated by short gaps, so energy-based VADs see talking, not a steady tone.

    It carries no words; use a recorded WAV when the bot needs to understand the user.
    """
    n = int(duration_seconds * PCM16_SAMPLE_RATE)
    t = np.arange(n) / PCM16_SAMPLE_RATE
    syllable = 0.22  # seconds per syllable, including its gap
    phase_in = (t % syllable) / syllable
    envelope = np.where(phase_in < 0.8, np.sin(np.pi * np.minimum(phase_in / 0.8, 1.0)), 0.0)
    glide = pitch * (1.0 + 0.15 * np.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * np.cumsum(glide) / PCM16_SAMPLE_RATE
    # Harmonics falling off like a glottal source, with two formant-ish boosts.
    wave = np.zeros(n)
    for k in range(1, 16):
        gain = (1.0 / k) * (1.8 if k in (3, 4) else 1.0) * (1.4 if k in (9, 10) else 1.0)
        wave += gain * np.sin(k * phase)
    peak = float(np.max(np.abs(wave))) or 1.0
    wave = wave / peak * 0.35 * envelope
    return AudioChunk(data=(wave * 32767).astype("<i2").tobytes())
