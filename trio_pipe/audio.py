"""The one audio toolbox: resampling, G.711 µ-law, WAV headers, silence, down-mixing.

All PCM here is signed 16-bit little-endian, channels interleaved (what audio frames carry).
Nothing else in trio_pipe resamples or transcodes: transports, serializers and the voice
test adapter call these functions, so every edge converts the same way.

Resampling uses python-soxr's stateful ``ResampleStream`` (as Pipecat does), one
:class:`Resampler` per direction and stream, so chunk boundaries leave no clicks. Unlike
Pipecat's stream resampler, trio_pipe runs soxr in its variable-rate engine, which emits
output for every chunk instead of in bursts of up to ~150 ms, and turns the filter's
latency into leading silence, so every call returns ``len * out_rate / in_rate`` samples
(within one sample per channel over the whole stream). :meth:`Resampler.flush` hands back
the held-back tail when a stream ends.

µ-law is the G.711 table that ``audioop.lin2ulaw``/``ulaw2lin`` implement, vectorised with
numpy lookup tables (``audioop`` is gone from Python 3.13).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
import soxr

__all__ = [
    "WAV_HEADER_SIZE",
    "Resampler",
    "WavAudio",
    "add_wav_header",
    "parse_wav",
    "resample_once",
    "silence",
    "to_mono",
    "trim_to_frames",
    "ulaw_decode",
    "ulaw_encode",
    "wav_header",
]

WAV_HEADER_SIZE = 44
_SAMPLE_WIDTH = 2  # bytes per sample: everything here is PCM16


def _check_format(sample_rate: int, num_channels: int) -> None:
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    if num_channels < 1:
        raise ValueError(f"num_channels must be >= 1, got {num_channels}")


# --- WAV -------------------------------------------------------------------------------


def trim_to_frames(pcm: bytes, num_channels: int = 1) -> bytes:
    """Cut ``pcm`` down to a whole number of sample frames (``2 * num_channels`` bytes)."""
    block = _SAMPLE_WIDTH * num_channels
    extra = len(pcm) % block
    return pcm[: len(pcm) - extra] if extra else pcm


def wav_header(data_bytes: int, sample_rate: int, num_channels: int = 1) -> bytes:
    """The standard 44-byte PCM16 WAV header for ``data_bytes`` bytes of audio.

    ``RIFF`` size, ``WAVE``, a 16-byte ``fmt `` chunk (format 1, channels, rate, byte rate,
    block align, 16 bits) and the ``data`` chunk header. ``data_bytes`` should be a whole
    number of sample frames; :func:`add_wav_header` makes sure of that.
    """
    _check_format(sample_rate, num_channels)
    if data_bytes < 0:
        raise ValueError(f"data_bytes must be >= 0, got {data_bytes}")
    block_align = _SAMPLE_WIDTH * num_channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        num_channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        8 * _SAMPLE_WIDTH,
        b"data",
        data_bytes,
    )


def add_wav_header(pcm: bytes, sample_rate: int, num_channels: int = 1) -> bytes:
    """``pcm`` as a complete WAV file; a trailing partial sample frame is dropped."""
    pcm = trim_to_frames(pcm, num_channels)
    return wav_header(len(pcm), sample_rate, num_channels) + pcm


class WavAudio(NamedTuple):
    """What :func:`parse_wav` found: the PCM payload and its format."""

    pcm: bytes
    sample_rate: int
    num_channels: int


def parse_wav(data: bytes) -> WavAudio | None:
    """Split a PCM16 WAV file into its audio and format; None if ``data`` is not one.

    Walks the RIFF chunks (so extra chunks such as ``LIST`` are skipped). A ``data`` size
    larger than what is present (streamed WAVs often say 0 or 0xFFFFFFFF) takes the rest.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: tuple[int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            audio_format, channels, rate = struct.unpack_from("<HHI", data, body)
            (bits,) = struct.unpack_from("<H", data, body + 14)
            if audio_format not in (1, 0xFFFE) or bits != 16 or channels < 1 or rate < 1:
                return None
            fmt = (rate, channels, bits)
        elif chunk_id == b"data":
            if fmt is None:
                return None
            end = len(data) if size == 0 or body + size > len(data) else body + size
            return WavAudio(data[body:end], fmt[0], fmt[1])
        pos = body + size + (size & 1)  # chunks are word-aligned
    return None


# --- silence and channels --------------------------------------------------------------


def silence(
    *,
    sample_rate: int,
    num_channels: int = 1,
    seconds: float | None = None,
    num_frames: int | None = None,
) -> bytes:
    """Zero PCM: ``num_frames`` sample frames, or ``int(seconds * sample_rate)`` of them."""
    _check_format(sample_rate, num_channels)
    if (seconds is None) == (num_frames is None):
        raise TypeError("give exactly one of seconds= or num_frames=")
    frames = int(seconds * sample_rate) if seconds is not None else int(num_frames or 0)
    if frames < 0:
        raise ValueError("silence length must be >= 0")
    return bytes(frames * num_channels * _SAMPLE_WIDTH)


def to_mono(pcm: bytes, num_channels: int) -> bytes:
    """Average interleaved channels into one (a partial trailing frame is dropped)."""
    if num_channels == 1:
        return pcm
    _check_format(1, num_channels)
    samples = np.frombuffer(trim_to_frames(pcm, num_channels), dtype="<i2")
    mixed = samples.reshape(-1, num_channels).mean(axis=1, dtype=np.float64)
    return np.round(mixed).astype("<i2").tobytes()


# --- G.711 µ-law -----------------------------------------------------------------------


def _build_ulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    # Encoder: the 14-bit G.711 algorithm (as audioop applies it to 16-bit input), computed
    # once for all 65536 inputs; encoding is then one table lookup per sample.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    negative = pcm < 0
    magnitude = np.minimum(np.where(negative, -pcm, pcm), 8159) + 33
    segment = np.searchsorted(
        np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), magnitude
    )
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)  # past the last segment: clip to the top code
    code = np.where(negative, code ^ 0x7F, code ^ 0xFF).astype(np.uint8)
    encode = np.empty(65536, dtype=np.uint8)
    encode[np.arange(-32768, 32768) & 0xFFFF] = code  # index by the sample's uint16 bits

    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    decode = np.where(u & 0x80, 0x84 - t, t - 0x84).astype("<i2")
    return encode, decode


_ULAW_ENCODE, _ULAW_DECODE = _build_ulaw_tables()


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 to G.711 µ-law, one byte per sample (an odd trailing byte is dropped)."""
    samples = np.frombuffer(pcm, dtype="<u2", count=len(pcm) // 2)
    return _ULAW_ENCODE[samples].tobytes()


def ulaw_decode(ulaw: bytes) -> bytes:
    """G.711 µ-law to PCM16, two bytes per input byte."""
    return _ULAW_DECODE[np.frombuffer(ulaw, dtype=np.uint8)].tobytes()


# --- resampling ------------------------------------------------------------------------


class Resampler:
    """Stateful PCM16 resampler for one stream (one direction of one connection).

    ``resample(pcm)`` may be fed chunks of any size, even splitting a sample frame (the
    partial frame waits for the next call). Each call returns audio such that the total
    output so far is ``total_in * out_rate // in_rate`` frames within one frame: the
    filter's latency (a few ms to ~30 ms, depending on the rates) comes out first as
    silence instead of as short or empty chunks. :meth:`flush` returns the audio still held
    in the filter at the end of a stream and readies the resampler for a new stream;
    :meth:`reset` drops it instead. Equal rates pass audio through untouched.

    ``quality`` is soxr's preset name (``"VHQ"`` like Pipecat). trio_pipe runs soxr's
    variable-rate engine, which produces output on every call; the fixed-rate engine
    Pipecat uses releases audio in bursts of up to ~150 ms.
    """

    def __init__(
        self, in_rate: int, out_rate: int, channels: int = 1, *, quality: str = "VHQ"
    ) -> None:
        _check_format(in_rate, channels)
        _check_format(out_rate, channels)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._quality = quality
        self._block = _SAMPLE_WIDTH * channels
        self._stream: soxr.ResampleStream | None = None
        self._carry = b""  # a partial sample frame from the last call
        self._in_frames = 0  # frames fed since the stream began
        self._out_frames = 0  # frames returned since the stream began
        self._started = False  # real (non-padding) output has begun

    @property
    def passthrough(self) -> bool:
        """True when the rates are equal and audio is returned as is."""
        return self.in_rate == self.out_rate

    def _new_stream(self) -> soxr.ResampleStream:
        return soxr.ResampleStream(
            self.in_rate, self.out_rate, self.channels, dtype="int16",
            quality=self._quality, vr=True,
        )  # fmt: skip

    def resample(self, pcm: bytes) -> bytes:
        """Resample the next chunk of the stream."""
        if self._carry:
            pcm = self._carry + pcm
        extra = len(pcm) % self._block
        self._carry = pcm[len(pcm) - extra :] if extra else b""
        if extra:
            pcm = pcm[: len(pcm) - extra]
        if self.passthrough or not pcm:
            return pcm
        if self._stream is None:
            self._stream = self._new_stream()
        samples = np.frombuffer(pcm, dtype="<i2")
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels)
        out = self._stream.resample_chunk(samples)
        self._in_frames += len(samples)
        produced = len(out)
        data = out.astype("<i2", copy=False).tobytes()
        if not self._started:
            # Until real audio appears, and once when it does, fill with silence up to the
            # proportional length: the filter's delay becomes explicit leading silence.
            due = self._in_frames * self.out_rate // self.in_rate - self._out_frames - produced
            if due > 0:
                data = bytes(due * self._block) + data
                produced += due
            self._started = len(out) > 0
        self._out_frames += produced
        return data

    def flush(self) -> bytes:
        """End the stream: return the audio still inside the filter, then start afresh.

        A trailing partial sample frame is dropped.
        """
        tail = b""
        if self._stream is not None and self._in_frames:
            empty = np.zeros((0, self.channels) if self.channels > 1 else 0, dtype=np.int16)
            tail = self._stream.resample_chunk(empty, last=True).astype("<i2").tobytes()
        self._reset_counters()
        return tail

    def reset(self) -> None:
        """Forget the stream (held audio and partial frame are dropped)."""
        self._reset_counters()

    def _reset_counters(self) -> None:
        # soxr's clear() does not undo last=True reliably across versions: start anew.
        self._stream = None
        self._carry = b""
        self._in_frames = 0
        self._out_frames = 0
        self._started = False


def resample_once(
    pcm: bytes, in_rate: int, out_rate: int, channels: int = 1, *, quality: str = "VHQ"
) -> bytes:
    """Resample a complete clip in one go (no stream state; not for chunked audio)."""
    _check_format(in_rate, channels)
    _check_format(out_rate, channels)
    pcm = trim_to_frames(pcm, channels)
    if in_rate == out_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels)
    return soxr.resample(samples, in_rate, out_rate, quality=quality).astype("<i2").tobytes()
