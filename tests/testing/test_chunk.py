"""AudioChunk, capabilities and errors (B.2, B.3; checks 1–6)."""

from __future__ import annotations

import attrs
import pytest

from trio_pipe.testing.voice import (
    PCM16_CHANNELS,
    PCM16_SAMPLE_RATE,
    PCM16_SAMPLE_WIDTH_BYTES,
    AdapterCapabilities,
    AgentConnectionLostError,
    AgentStreamEndedError,
    AudioChunk,
    FirstChunkTimeoutError,
    TransportNotConnectedError,
    UnsupportedCapabilityError,
    silent_chunk,
    tone_chunk,
    utterance_chunk,
)


def test_constants() -> None:
    assert (PCM16_SAMPLE_RATE, PCM16_CHANNELS, PCM16_SAMPLE_WIDTH_BYTES) == (24000, 1, 2)


def test_odd_length_is_refused_even_and_empty_accepted() -> None:  # check 1
    with pytest.raises(ValueError, match="whole number of PCM16 samples"):
        AudioChunk(b"\x00")
    assert AudioChunk(b"").data == b""
    assert AudioChunk(b"\x00\x00").data == b"\x00\x00"


def test_duration_rate_channels() -> None:  # check 2
    chunk = AudioChunk(b"\x00" * 48000)
    assert chunk.duration_seconds == 1.0
    assert chunk.sample_rate == 24000
    assert chunk.channels == 1
    assert chunk.num_samples == 24000
    assert AudioChunk(b"").duration_seconds == 0.0


def test_fields_and_defaults() -> None:
    chunk = AudioChunk(b"\x00\x00", transcript="hi", start_time=1.0, end_time=2.0)
    assert (chunk.transcript, chunk.start_time, chunk.end_time) == ("hi", 1.0, 2.0)
    plain = AudioChunk(b"")
    assert (plain.transcript, plain.start_time, plain.end_time) == (None, None, None)


def test_silent_chunk() -> None:  # check 3
    assert silent_chunk(0.5).data == b"\x00" * 24000


def test_bytes_like_become_bytes_and_evolve_checks_again() -> None:  # check 4
    chunk = AudioChunk(bytearray(b"\x01\x00"))
    assert type(chunk.data) is bytes
    assert type(AudioChunk(memoryview(b"\x01\x00\x02\x00")).data) is bytes
    with pytest.raises(ValueError):
        attrs.evolve(chunk, data=b"\x00")


def test_mutable_but_still_checked_on_assignment() -> None:
    chunk = AudioChunk(b"\x00\x00")
    chunk.transcript = "changed"
    assert chunk.transcript == "changed"
    with pytest.raises(ValueError):
        chunk.data = b"\x00\x00\x00"


def test_generated_signals_have_the_asked_length() -> None:
    assert tone_chunk(1.0).num_samples == 24000
    assert utterance_chunk(0.5).num_samples == 12000
    assert max(abs(int.from_bytes(tone_chunk(0.1).data[i : i + 2], "little", signed=True))
               for i in range(0, 4800, 2)) > 5000  # fmt: skip


def test_capabilities_defaults_frozen_and_equal_by_value() -> None:  # check 5
    caps = AdapterCapabilities()
    assert not (caps.streaming_transcripts or caps.native_vad or caps.dtmf or caps.interruption)
    assert caps.input_formats == [] and caps.output_formats == []
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        caps.dtmf = True  # type: ignore[misc]
    assert AdapterCapabilities(input_formats=["pcm16/24000"]) == AdapterCapabilities(
        input_formats=["pcm16/24000"]
    )
    assert AdapterCapabilities(dtmf=True) != AdapterCapabilities()


def test_unsupported_capability_error_names_both() -> None:  # check 6 (type)
    err = UnsupportedCapabilityError("MyAdapter", "interruption")
    assert isinstance(err, RuntimeError)
    assert err.adapter_name == "MyAdapter" and err.capability == "interruption"
    assert "MyAdapter" in str(err) and "interruption" in str(err)


def test_first_chunk_timeout_error() -> None:
    err = FirstChunkTimeoutError(timeout=2.5)
    assert isinstance(err, TimeoutError)
    assert err.timeout == 2.5 and err.phase == "first-chunk"
    assert "2.5" in str(err) and "phase=first-chunk" in str(err)


def test_error_family() -> None:
    lost = AgentConnectionLostError("gone", 1006, "reset")
    assert isinstance(lost, AgentStreamEndedError)
    assert (lost.close_code, lost.close_reason) == (1006, "reset")
    not_connected = TransportNotConnectedError("Bot")
    assert "Bot" in str(not_connected) and "connect" in str(not_connected)
    assert not_connected.adapter_name == "Bot"
