"""trio_pipe.audio: µ-law, WAV, silence, down-mixing and the stateful resampler."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from trio_pipe import audio

# --- G.711 µ-law ----------------------------------------------------------------------

# Known G.711 points (PCM16 sample, µ-law byte), as audioop.lin2ulaw gives them: 16-bit input
# is cut to 14 bits first, so -1 lands on 0x7E. 0x80/0x00 are the extremes.
KNOWN_ULAW = [
    (0, 0xFF),
    (-1, 0x7E),
    (32767, 0x80),
    (-32768, 0x00),
    (1000, 0xCE),
    (-1000, 0x4E),
    (8000, 0xA0),
]


@pytest.mark.parametrize(("sample", "code"), KNOWN_ULAW)
def test_ulaw_encode_known_values(sample: int, code: int) -> None:
    assert audio.ulaw_encode(struct.pack("<h", sample)) == bytes([code])


def test_ulaw_decode_known_values() -> None:
    decoded = struct.unpack("<4h", audio.ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])))
    assert decoded == (0, 0, 32124, -32124)


def test_ulaw_matches_audioop_everywhere() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop left Python in 3.13")
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert audio.ulaw_encode(every_sample) == audioop.lin2ulaw(every_sample, 2)
    every_code = bytes(range(256))
    assert audio.ulaw_decode(every_code) == audioop.ulaw2lin(every_code, 2)


def test_ulaw_round_trip_is_stable_and_sizes() -> None:
    codes = bytes(range(256))
    assert audio.ulaw_encode(audio.ulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")
    assert len(audio.ulaw_encode(bytes(321))) == 160  # odd trailing byte dropped
    assert audio.ulaw_decode(b"") == b""


# --- WAV -------------------------------------------------------------------------------


def test_wav_header_fields() -> None:
    header = audio.wav_header(6400, 16000, 2)
    assert len(header) == audio.WAV_HEADER_SIZE
    fields = struct.unpack("<4sI4s4sIHHIIHH4sI", header)
    assert fields == (
        b"RIFF", 36 + 6400, b"WAVE", b"fmt ", 16, 1, 2, 16000, 64000, 4, 16, b"data", 6400
    )  # fmt: skip


def test_add_wav_header_matches_spec_example_and_trims() -> None:
    # transports.md O6 / T44: 5 PCM bytes at 16 kHz mono give exactly these 48 bytes.
    expected = bytes.fromhex(
        "52494646280000005741564566 6d74201000000001000100803e0000007d000002001000"
        "646174610400000001000200".replace(" ", "")
    )
    assert audio.add_wav_header(bytes.fromhex("0100020003"), 16000, 1) == expected
    assert len(audio.add_wav_header(bytes(7), 8000, 2)) == 44 + 4


def test_parse_wav_round_trip_and_rejects() -> None:
    pcm = bytes(range(200))
    assert audio.parse_wav(audio.add_wav_header(pcm, 24000, 2)) == (pcm, 24000, 2)
    assert audio.parse_wav(pcm) is None
    assert audio.parse_wav(b"RIFF\x00\x00\x00\x00WAVE") is None  # no chunks
    # A streamed header (data size 0) takes the rest of the buffer.
    streamed = audio.wav_header(0, 8000, 1) + pcm
    assert audio.parse_wav(streamed) == (pcm, 8000, 1)


def test_wav_header_refuses_bad_format() -> None:
    with pytest.raises(ValueError):
        audio.wav_header(10, 16000, 0)
    with pytest.raises(ValueError):
        audio.wav_header(10, 0, 1)


# --- silence, mono --------------------------------------------------------------------


def test_silence_lengths() -> None:
    assert audio.silence(seconds=2, sample_rate=16000) == bytes(64000)
    assert len(audio.silence(seconds=0.02, sample_rate=24000, num_channels=2)) == 1920
    assert len(audio.silence(num_frames=10, sample_rate=8000, num_channels=2)) == 40
    with pytest.raises(TypeError):
        audio.silence(sample_rate=8000)


def test_to_mono_averages() -> None:
    stereo = struct.pack("<4h", 100, 300, -2, -4)
    assert struct.unpack("<2h", audio.to_mono(stereo, 2)) == (200, -3)
    assert audio.to_mono(b"\x01\x02", 1) == b"\x01\x02"


# --- resampling ------------------------------------------------------------------------


def _noise(frames: int, channels: int = 1, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(frames * channels) * 3000).astype("<i2").tobytes()


def _tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 10000).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "channels"),
    [(8000, 24000, 1), (24000, 8000, 1), (16000, 8000, 2), (44100, 16000, 1), (16000, 24000, 2)],
)
def test_resampler_lengths_track_ratio_within_one_frame(
    in_rate: int, out_rate: int, channels: int
) -> None:
    pcm = _noise(in_rate, channels)
    rng = np.random.default_rng(1)
    resampler = audio.Resampler(in_rate, out_rate, channels)
    block = 2 * channels
    fed = returned = 0
    pos = 0
    while pos < len(pcm):
        size = int(rng.integers(1, 1500))  # arbitrary, often splitting a sample frame
        chunk = pcm[pos : pos + size]
        pos += size
        fed += len(chunk)
        out = resampler.resample(chunk)
        assert len(out) % block == 0
        returned += len(out) // block
        assert abs((fed // block) * out_rate // in_rate - returned) <= 1


def test_resampler_each_20ms_chunk_gives_its_share() -> None:
    # voice adapter B.9 #29: a 160-sample 8 kHz chunk gives 478-480 samples at 24 kHz.
    resampler = audio.Resampler(8000, 24000)
    assert [len(resampler.resample(bytes(320))) // 2 for _ in range(5)] == [480] * 5


def test_resampler_chunked_equals_continuous_stream() -> None:
    # Stateful: the chunk boundaries leave no trace. Chunked output equals the output of
    # the same resampler fed the whole signal at once (after its leading silence).
    pcm = _tone(16000, 1.0)
    whole = audio.Resampler(16000, 24000)
    reference = whole.resample(pcm) + whole.flush()
    chunked = audio.Resampler(16000, 24000)
    parts = [chunked.resample(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]
    out = b"".join(parts) + chunked.flush()
    a = np.frombuffer(out, "<i2").astype(np.int32)
    b = np.frombuffer(reference, "<i2").astype(np.int32)
    assert len(a) == len(b)
    assert np.abs(a - b).max() <= 2  # int16 rounding inside soxr's blocks at most


def test_resampler_output_is_a_clean_tone() -> None:
    # A 300 Hz tone fed in 20 ms chunks comes out as the same clean tone at the new rate:
    # no clicks at chunk boundaries (they would show up as residual after fitting a sine).
    pcm = _tone(8000, 1.0, freq=300.0)
    resampler = audio.Resampler(8000, 24000)
    out = b"".join(resampler.resample(pcm[i : i + 320]) for i in range(0, len(pcm), 320))
    got = np.frombuffer(out, "<i2").astype(np.float64)[2400:]  # past the leading silence
    t = (np.arange(len(got)) + 2400) / 24000
    basis = np.stack([np.sin(2 * np.pi * 300 * t), np.cos(2 * np.pi * 300 * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, got, rcond=None)
    residual = got - basis @ coef
    assert abs(np.hypot(*coef) - 10000) < 100  # same amplitude
    assert 10 * np.log10(np.mean(got**2) / np.mean(residual**2)) > 60  # dB, no clicks


def test_resampler_flush_returns_tail_and_restarts() -> None:
    resampler = audio.Resampler(24000, 8000)
    first = resampler.resample(_noise(4800))
    tail = resampler.flush()
    assert len(first) == 1600 * 2
    assert 0 < len(tail) < 1600 * 2
    # A new stream starts with its own leading silence and proportional lengths.
    assert len(resampler.resample(bytes(960))) == 320
    resampler.reset()
    assert resampler.flush() == b""


def test_resampler_equal_rates_pass_through_and_keep_partial_frames() -> None:
    resampler = audio.Resampler(16000, 16000, 2)
    assert resampler.passthrough
    assert resampler.resample(b"\x01\x02\x03") == b""
    assert resampler.resample(b"\x04\x05") == b"\x01\x02\x03\x04"


def test_resample_once_lengths() -> None:
    assert len(audio.resample_once(bytes(32000), 16000, 8000)) == 16000
    assert len(audio.resample_once(bytes(6400), 16000, 24000, 2)) == 9600
    assert audio.resample_once(b"\x01\x02\x03", 8000, 8000) == b"\x01\x02"


def test_resampler_refuses_bad_format() -> None:
    with pytest.raises(ValueError):
        audio.Resampler(0, 8000)
    with pytest.raises(ValueError):
        audio.Resampler(8000, 16000, 0)
