"""The ready protocols as plain code, no socket (B.7, B.8; checks 23, 24, 27–29, 31)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_pipe.audio import add_wav_header, ulaw_encode
from trio_pipe.frames import OutputTransportMessageUrgentFrame, TextFrame, TranscriptionFrame
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer, frame_message_class
from trio_pipe.testing.voice import (
    AudioChunk,
    ProtobufFrameProtocol,
    RawPCMProtocol,
    TwilioMediaStreamProtocol,
    silent_chunk,
    tone_chunk,
)

GOLDEN_SERVER_FRAME = bytes.fromhex(
    "1225080112154f7574707574417564696f5261774672616d6523301a040100020020c0bb012801"
)
Frame = frame_message_class()


def pcm_frame(audio: bytes, rate: int, channels: int) -> bytes:
    proto = Frame()
    proto.audio.audio, proto.audio.sample_rate, proto.audio.num_channels = audio, rate, channels
    return proto.SerializeToString()


# -- raw PCM -----------------------------------------------------------------------------


def test_raw_resamples_at_the_edges_and_holds_half_samples() -> None:
    raw = RawPCMProtocol(in_rate=16000, out_rate=16000)
    sent = raw.encode_audio(silent_chunk(0.3).data)
    assert isinstance(sent, bytes) and len(sent) == 4800 * 2
    first = raw.decode_response(b"\x00" * 321)  # 160.5 samples at 16 kHz
    second = raw.decode_response(b"\x00" * 319)
    assert first is not None and second is not None
    assert (len(first.data) + len(second.data)) // 2 == 480  # 320 samples at 16k -> 480 at 24k
    assert raw.decode_response(b"\x00") is None  # half a sample: not audio yet, not the end
    assert raw.decode_response("text") is None
    assert raw.decode_event("text") == {"type": "text", "text": "text"}
    assert raw.input_formats == ["pcm16/16000"] and raw.output_formats == ["pcm16/16000"]


def test_raw_passthrough_at_24k() -> None:
    raw = RawPCMProtocol(in_rate=24000, out_rate=24000)
    assert raw.encode_audio(b"\x01\x00\x02\x00") == b"\x01\x00\x02\x00"
    chunk = raw.decode_response(b"\x01\x00\x02")
    assert chunk is not None and chunk.data == b"\x01\x00"
    raw.reset()  # drops the held byte
    chunk = raw.decode_response(b"\x03\x00")
    assert chunk is not None and chunk.data == b"\x03\x00"


# -- Twilio ------------------------------------------------------------------------------


def test_twilio_connect_and_disconnect_messages() -> None:  # check 27
    twilio = TwilioMediaStreamProtocol()
    connected, start = (json.loads(m) for m in twilio.on_connect())
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    sid, call = start["streamSid"], start["start"]["callSid"]
    assert sid.startswith("MZ") and len(sid) == 34 and int(sid[2:], 16) >= 0
    assert call.startswith("CA") and len(call) == 34 and int(call[2:], 16) >= 0
    assert start["start"]["streamSid"] == sid
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    assert [json.loads(m) for m in twilio.on_disconnect()] == [{"event": "stop", "streamSid": sid}]
    twilio.reset()
    assert twilio.stream_sid != sid  # fresh ids per connection
    fixed = TwilioMediaStreamProtocol(stream_sid="MZfixed", call_sid="CAfixed")
    fixed.reset()
    assert (fixed.stream_sid, fixed.call_sid) == ("MZfixed", "CAfixed")


def test_twilio_one_second_is_fifty_frames_and_a_mark() -> None:  # check 28 (framing)
    twilio = TwilioMediaStreamProtocol()
    messages = list(twilio.encode_audio(tone_chunk(1.0).data) or []) + twilio.end_of_utterance()
    *media, mark = (json.loads(m) for m in messages)
    assert len(media) == 50
    for message in media:
        assert message["event"] == "media" and message["streamSid"] == twilio.stream_sid
        assert len(base64.b64decode(message["media"]["payload"])) == 160
    assert mark == {
        "event": "mark",
        "streamSid": twilio.stream_sid,
        "mark": {"name": "utterance_end"},
    }


def test_twilio_partial_frame_is_padded_at_the_end_of_an_utterance() -> None:
    twilio = TwilioMediaStreamProtocol()
    assert twilio.encode_audio(silent_chunk(0.01).data) is None  # 80 bytes: not a frame yet
    media, mark = (json.loads(m) for m in twilio.end_of_utterance())
    payload = base64.b64decode(media["media"]["payload"])
    assert len(payload) == 160 and mark["event"] == "mark"


def media(ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode()
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}})


def test_twilio_inbound() -> None:  # check 29
    twilio = TwilioMediaStreamProtocol()
    chunk = twilio.decode_response(media(ulaw_encode(bytes(320))))
    assert chunk is not None and 478 <= chunk.num_samples <= 480
    stop = twilio.decode_response(json.dumps({"event": "stop", "streamSid": "MZ1"}))
    assert stop == AudioChunk(b"")
    clear = json.dumps({"event": "clear", "streamSid": "MZ1"})
    assert twilio.decode_response(clear) is None
    assert twilio.decode_event(clear) == {"type": "clear", "data": json.loads(clear)}
    mark = json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "m1"}})
    assert twilio.decode_response(mark) is None
    assert twilio.decode_event(mark)["name"] == "m1"  # type: ignore[index]
    for ignored in ("not json", "[1, 2]", '{"event": "dtmf"}', b"\x00\x01"):
        assert twilio.decode_response(ignored) is None
        assert twilio.decode_event(ignored) is None
    with pytest.raises(ValueError, match="base64"):
        twilio.decode_response(json.dumps({"event": "media", "media": {"payload": "@@@"}}))


def test_stateful_resampling_over_a_stream() -> None:  # check 31
    twilio = TwilioMediaStreamProtocol()
    tone8k = (np.sin(np.arange(1600) * 0.3) * 8000).astype("<i2").tobytes()
    frames = [ulaw_encode(tone8k[i : i + 320]) for i in range(0, 3200, 320)]
    total = sum(twilio.decode_response(media(f)).num_samples for f in frames)  # type: ignore[union-attr]
    assert abs(total - 4800) <= 2
    sent = 0
    tone24k = tone_chunk(0.2).data
    for i in range(0, len(tone24k), 960):
        for message in twilio.encode_audio(tone24k[i : i + 960]) or []:
            sent += len(base64.b64decode(json.loads(message)["media"]["payload"]))
    assert sent == 1600


# -- Pipecat protobuf --------------------------------------------------------------------


def test_protobuf_outbound_audio_and_interrupt() -> None:
    proto = ProtobufFrameProtocol()
    wire = proto.encode_audio(silent_chunk(0.3).data)
    assert isinstance(wire, bytes)
    frame = Frame.FromString(wire)
    assert frame.WhichOneof("frame") == "audio"
    assert (frame.audio.sample_rate, frame.audio.num_channels) == (16000, 1)
    assert len(frame.audio.audio) == 4800 * 2
    assert frame.audio.id == 0 and frame.audio.name == ""  # left out
    assert proto.encode_interrupt() == bytes.fromhex("2a00")  # check 25 (bytes)
    assert proto.input_formats == ["pcm16/16000"]


def test_protobuf_golden_server_frame() -> None:  # check 23
    chunk = ProtobufFrameProtocol().decode_response(GOLDEN_SERVER_FRAME)
    assert chunk == AudioChunk(data=b"\x01\x00\x02\x00")


def test_protobuf_stereo_and_wav_become_24k_mono() -> None:  # check 24
    proto = ProtobufFrameProtocol()
    stereo = np.repeat(np.arange(1600, dtype="<i2"), 2).tobytes()  # 0.1 s at 16 kHz, 2 ch
    chunk = proto.decode_response(pcm_frame(stereo, 16000, 2))
    assert chunk is not None and abs(chunk.num_samples - 2400) <= 1
    wav = add_wav_header(bytes(1600 * 2), 16000, 1)
    chunk = proto.decode_response(pcm_frame(wav, 16000, 1))
    assert chunk is not None and abs(chunk.num_samples - 2400) <= 1
    wav8k = add_wav_header(bytes(800 * 2 * 2), 8000, 2)  # the header's format wins
    chunk = proto.decode_response(pcm_frame(wav8k, 16000, 1))
    assert chunk is not None and abs(chunk.num_samples - 2400) <= 1


def test_protobuf_events_and_garbage() -> None:
    proto = ProtobufFrameProtocol()
    serializer = ProtobufFrameSerializer()
    message = serializer.encode(OutputTransportMessageUrgentFrame(message={"type": "bot-ready"}))
    text = serializer.encode(TextFrame(text="hi"))
    transcription = serializer.encode(TranscriptionFrame(text="yo", user_id="u", timestamp="t"))
    assert message and text and transcription
    for wire, event in [
        (bytes.fromhex("2a00"), {"type": "interruption"}),
        (message, {"type": "message", "data": {"type": "bot-ready"}}),
        (text, {"type": "text", "text": "hi"}),
        (transcription, {"type": "transcription", "text": "yo", "user_id": "u", "timestamp": "t"}),
    ]:
        assert proto.decode_response(wire) is None
        assert proto.decode_event(wire) == event
    with pytest.raises(ValueError):
        proto.decode_response(b"\xff\xff\xff")
    with pytest.raises(ValueError):
        proto.decode_response("text is not protobuf")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=12))
def test_twilio_frames_are_whole_whatever_the_chunking(sizes: list[int]) -> None:
    twilio = TwilioMediaStreamProtocol()
    payloads: list[bytes] = []
    total = 0
    for size in sizes:
        pcm = bytes(size * 2)
        total += size
        for message in twilio.encode_audio(pcm) or []:
            payloads.append(base64.b64decode(json.loads(message)["media"]["payload"]))
    assert all(len(p) == 160 for p in payloads)
    sent = 160 * len(payloads)
    assert total // 3 - 160 <= sent <= total // 3 + 1  # the rest waits for the next audio


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2001), min_size=1, max_size=12))
def test_raw_inbound_keeps_every_sample_whatever_the_split(sizes: list[int]) -> None:
    raw = RawPCMProtocol(in_rate=24000, out_rate=24000)
    data = bytes(range(256)) * (sum(sizes) // 256 + 1)
    out, pos = b"", 0
    for size in sizes:
        chunk = raw.decode_response(data[pos : pos + size])
        pos += size
        out += chunk.data if chunk is not None else b""
    assert out == data[: pos - pos % 2]
