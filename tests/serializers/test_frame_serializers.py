"""Frame serializers (transports.md §6): protobuf byte parity, bad input, raw PCM.

T21-T27 of §9 are here; the fixtures are Pipecat 1.14's bytes (S7).
"""

from __future__ import annotations

import json
import logging

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from trio_pipe.serializers.frames import (
    FrameSerializer,
    FrameSerializerParams,
    ProtobufFrameSerializer,
    RawPCMSerializer,
)


def _with(frame: Frame, **fields: object) -> Frame:
    for name, value in fields.items():
        setattr(frame, name, value)
    return frame


def _audio_out(**fields: object) -> Frame:
    frame = OutputAudioRawFrame(audio=bytes.fromhex("01000200"), sample_rate=16000, num_channels=1)
    return _with(frame, **{"id": 2, "name": "OutputAudioRawFrame#0", **fields})


# --- T21: serialize fixtures, byte for byte ---------------------------------------------

AUDIO_HEX = "1224080212154f7574707574417564696f5261774672616d6523301a040100020020807d2801"


async def test_t21_text_frame_fixture() -> None:
    frame = _with(TextFrame(text="hi"), id=1, name="TextFrame#0")
    data = await ProtobufFrameSerializer().serialize(frame)
    assert data == bytes.fromhex("0a130801120b546578744672616d6523301a026869")


async def test_t21_audio_fixture_without_and_with_pts() -> None:
    serializer = ProtobufFrameSerializer()
    assert await serializer.serialize(_audio_out()) == bytes.fromhex(AUDIO_HEX)
    with_pts = AUDIO_HEX.replace("1224", "1227", 1) + "30b960"
    assert await serializer.serialize(_audio_out(pts=12345)) == bytes.fromhex(with_pts)


async def test_t21_urgent_message_fixture() -> None:
    frame = OutputTransportMessageUrgentFrame(message={"type": "ping", "n": 1})
    data = await ProtobufFrameSerializer().serialize(frame)
    assert data == bytes.fromhex("221a0a18") + b'{"type": "ping", "n": 1}'


async def test_normal_message_and_transcription_are_serialized() -> None:
    serializer = ProtobufFrameSerializer()
    message = await serializer.serialize(OutputTransportMessageFrame(message={"a": [1, 2]}))
    assert message == bytes.fromhex("220f0a0d") + b'{"a": [1, 2]}'
    transcription = _with(
        TranscriptionFrame(text="yo", user_id="u", timestamp="t"), id=3, name="T#1"
    )
    data = await serializer.serialize(transcription)
    assert data == bytes.fromhex("1a11080312035423311a02796f2201752a0174")


async def test_falsy_fields_are_left_out() -> None:
    # S3: id 0, empty name/audio and pts 0/None are omitted, like Pipecat's truthiness test.
    serializer = ProtobufFrameSerializer()
    frame = _with(
        OutputAudioRawFrame(audio=b"", sample_rate=16000, num_channels=1), id=0, name="", pts=0
    )
    assert await serializer.serialize(frame) == bytes.fromhex("120520807d2801")
    # With nothing truthy the oneof is never selected, so the message is empty.
    assert await serializer.serialize(_with(InterruptionFrame(), id=0, name="")) == b""


# --- T22: deserialize fixtures -----------------------------------------------------------


async def test_t22_minimal_incoming_audio() -> None:
    frame = InputAudioRawFrame(audio=b"", sample_rate=1, num_channels=1)  # a local frame first
    serializer = ProtobufFrameSerializer()
    data = bytes.fromhex("120f1a08000100010001000120807d2801")
    got = await serializer.deserialize(data)
    assert isinstance(got, InputAudioRawFrame)
    assert got.audio == bytes.fromhex("0001000100010001")
    assert (got.sample_rate, got.num_channels, got.num_frames) == (16000, 1, 4)
    # No wire id/name: the local ones stay (fresh, from the counters).
    assert got.id > frame.id
    assert got.name.startswith("InputAudioRawFrame#")
    assert got.pts is None


async def test_t22_interruption_and_rtvi_message() -> None:
    serializer = ProtobufFrameSerializer()
    assert isinstance(await serializer.deserialize(bytes.fromhex("2a00")), InterruptionFrame)
    text = b'{"label": "rtvi-ai", "type": "client-ready"}'
    got = await serializer.deserialize(bytes.fromhex("222e0a2c") + text)
    assert isinstance(got, InputTransportMessageFrame)
    assert got.message == {"label": "rtvi-ai", "type": "client-ready"}


async def test_text_and_transcription_deserialize() -> None:
    serializer = ProtobufFrameSerializer()
    text = await serializer.deserialize(bytes.fromhex("0a130801120b546578744672616d6523301a026869"))
    assert isinstance(text, TextFrame)
    assert (text.text, text.id, text.name) == ("hi", 1, "TextFrame#0")
    sent = _with(TranscriptionFrame(text="yo", user_id="u", timestamp="t"), id=3, name="T#1")
    back = await serializer.deserialize(await serializer.serialize(sent))
    assert isinstance(back, TranscriptionFrame)
    assert (back.text, back.user_id, back.timestamp, back.id, back.name) == (
        "yo", "u", "t", 3, "T#1"
    )  # fmt: skip


# --- T23: wire id/name/pts overwrite only when set -------------------------------------


async def test_t23_wire_identity_overwrites_local() -> None:
    serializer = ProtobufFrameSerializer()
    got = await serializer.deserialize(await serializer.serialize(_audio_out(pts=12345)))
    assert (got.id, got.name, got.pts) == (2, "OutputAudioRawFrame#0", 12345)
    assert isinstance(got, InputAudioRawFrame)


async def test_t23_absent_identity_keeps_local() -> None:
    serializer = ProtobufFrameSerializer()
    data = await serializer.serialize(_audio_out(id=0, name="", pts=None))
    got = await serializer.deserialize(data)
    assert got.id != 0
    assert got.name.startswith("InputAudioRawFrame#")
    assert got.pts is None


# --- T24: frames that have no wire form -------------------------------------------------


class _MyText(TextFrame):
    pass


@pytest.mark.parametrize(
    "frame",
    [
        EndFrame(),
        CancelFrame(),
        StartFrame(),
        InputAudioRawFrame(audio=b"\x00\x00", sample_rate=16000, num_channels=1),
        TTSAudioRawFrame(audio=b"\x00\x00", sample_rate=16000, num_channels=1),
        _MyText(text="sub"),
        InputTransportMessageFrame(message={}),
    ],
    ids=lambda f: type(f).__name__,
)
async def test_t24_not_serialized(frame: Frame) -> None:
    serializer = ProtobufFrameSerializer()
    assert await serializer.serialize(frame) is None
    assert serializer.encode_errors == 0


# --- T25: RTVI filter -------------------------------------------------------------------


class _Base(FrameSerializer):
    async def serialize(self, frame: Frame) -> bytes | None:
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        return None


async def test_t25_rtvi_filter() -> None:
    rtvi = OutputTransportMessageFrame(message={"label": "rtvi-ai", "type": "bot-ready"})
    assert _Base().should_ignore_frame(rtvi)
    assert _Base().should_ignore_frame(OutputTransportMessageUrgentFrame(message=rtvi.message))
    assert not _Base().should_ignore_frame(OutputTransportMessageFrame(message={"label": "x"}))
    assert not _Base(FrameSerializerParams(ignore_rtvi_messages=False)).should_ignore_frame(rtvi)
    # A message that is not a dict is never ignored (Pipecat raises AttributeError).
    assert not _Base().should_ignore_frame(OutputTransportMessageFrame(message=["rtvi-ai"]))
    serializer = ProtobufFrameSerializer()
    assert not serializer.should_ignore_frame(rtvi)
    data = await serializer.serialize(rtvi)
    assert data is not None
    assert b"rtvi-ai" in data


async def test_protobuf_does_not_change_the_callers_params() -> None:
    params = FrameSerializerParams()
    ProtobufFrameSerializer(params)
    assert params.ignore_rtvi_messages is True


# --- T26: bad input is dropped, counted, never raised -----------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xff\xff",
        "a text message",
        bytes.fromhex("22070a05") + b"{nope",  # message data that is not JSON
        bytes.fromhex("120a1a080001000100010001"),  # audio without rate or channels
        bytes.fromhex("120d1a0800010001000100012001"),  # rate 1, channels 0
        bytes.fromhex("0a031a01ff"),  # a text that is not UTF-8
        bytes.fromhex("0a051a0568"),  # truncated
    ],
)
async def test_t26_bad_input_returns_none_and_counts(
    data: bytes | str, caplog: pytest.LogCaptureFixture
) -> None:
    serializer = ProtobufFrameSerializer()
    with caplog.at_level(logging.WARNING):
        assert await serializer.deserialize(data) is None
    assert serializer.decode_errors == 1
    assert "undecodable" in caplog.text
    # The serializer is still usable afterwards.
    assert isinstance(await serializer.deserialize(bytes.fromhex("2a00")), InterruptionFrame)


async def test_a_client_on_the_wrong_protocol_cannot_flood_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # issue 13, item 11: every payload counted, only the first ten and then one in a
    # thousand logged (as the proxy does)
    serializer = ProtobufFrameSerializer()
    with caplog.at_level(logging.WARNING, logger="trio_pipe.serializers.base_serializer"):
        for _ in range(3000):
            assert await serializer.deserialize('{"event": "media"}') is None
    assert serializer.decode_errors == 3000
    logged = [r for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(logged) == 10 + 3  # 1..10, 1000, 2000, 3000
    assert "(3000 so far)" in logged[-1].getMessage()


async def test_unserializable_message_is_dropped_and_counted() -> None:
    serializer = ProtobufFrameSerializer()
    assert await serializer.serialize(OutputTransportMessageFrame(message={1, 2})) is None
    frame = _with(TranscriptionFrame(text="x", user_id=7, timestamp="t"))  # type: ignore[arg-type]
    assert await serializer.serialize(frame) is None
    assert serializer.encode_errors == 2


# --- T27: JSON values -------------------------------------------------------------------


@pytest.mark.parametrize("value", [[], 1, "s", None, {"nested": {"a": [1.5, True]}}])
async def test_t27_any_json_value_round_trips(value: object) -> None:
    serializer = ProtobufFrameSerializer()
    data = await serializer.serialize(OutputTransportMessageFrame(message=value))
    got = await serializer.deserialize(data)
    assert isinstance(got, InputTransportMessageFrame)
    assert got.message == value


async def test_t27_json_text_is_stdlib_default() -> None:
    serializer = ProtobufFrameSerializer()
    data = await serializer.serialize(OutputTransportMessageFrame(message={"u": "é", "b": 2}))
    assert data.endswith(b'{"u": "\\u00e9", "b": 2}')
    assert json.dumps({"u": "é", "b": 2}).encode() in data


# --- S1: setup -------------------------------------------------------------------------


async def test_setup_is_idempotent_and_params_have_pipecat_defaults() -> None:
    serializer = ProtobufFrameSerializer()
    await serializer.setup(StartFrame())
    await serializer.setup(StartFrame())
    assert attrs.asdict(FrameSerializerParams()) == {
        "ignore_rtvi_messages": True,
        "resampler_clear_after_secs": 0.2,
    }
    assert FrameSerializer.InputParams is FrameSerializerParams


# --- S8: raw PCM -----------------------------------------------------------------------


async def test_raw_pcm_out_and_in() -> None:
    serializer = RawPCMSerializer()
    assert await serializer.serialize(_audio_out()) == bytes.fromhex("01000200")
    assert await serializer.serialize(TextFrame(text="x")) is None
    assert await serializer.serialize(EndFrame()) is None
    await serializer.setup(StartFrame(audio_in_sample_rate=8000))
    got = await serializer.deserialize(b"\x01\x02\x03\x04")
    assert isinstance(got, InputAudioRawFrame)
    assert (got.audio, got.sample_rate, got.num_channels) == (b"\x01\x02\x03\x04", 8000, 1)


async def test_raw_pcm_carries_partial_sample_frames() -> None:
    serializer = RawPCMSerializer(sample_rate=24000, num_channels=2)
    await serializer.setup(StartFrame(audio_in_sample_rate=8000))  # configured rate wins
    assert await serializer.deserialize(b"\x01\x02\x03") is None
    got = await serializer.deserialize(b"\x04\x05\x06\x07\x08\x09")
    assert got.audio == bytes(range(1, 9))
    assert (got.sample_rate, got.num_channels, got.num_frames) == (24000, 2, 2)
    assert await serializer.deserialize("text") is None
    assert serializer.decode_errors == 1


# --- properties: never raises, round trips ----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_decode_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    serializer = ProtobufFrameSerializer()
    frame = serializer.decode(data)
    assert frame is None or isinstance(frame, Frame)
    assert serializer.decode_errors == (1 if frame is None else 0)


@settings(max_examples=200, deadline=None)
@given(
    audio=st.binary(max_size=256),
    rate=st.integers(1, 2**32 - 1),
    channels=st.integers(1, 8),
    ident=st.integers(1, 2**64 - 1),
    name=st.text(min_size=1, max_size=20),
    pts=st.one_of(st.none(), st.integers(1, 2**64 - 1)),
)
def test_audio_round_trip(
    audio: bytes, rate: int, channels: int, ident: int, name: str, pts: int | None
) -> None:
    serializer = ProtobufFrameSerializer()
    frame = _with(
        OutputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=channels),
        id=ident,
        name=name,
        pts=pts,
    )
    back = serializer.decode(serializer.encode(frame))
    assert isinstance(back, InputAudioRawFrame)
    assert (back.audio, back.sample_rate, back.num_channels) == (audio, rate, channels)
    assert (back.id, back.name, back.pts) == (ident, name, pts)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50), st.text(max_size=10), st.text(max_size=10))
def test_transcription_round_trip(text: str, user_id: str, timestamp: str) -> None:
    serializer = ProtobufFrameSerializer()
    sent = _with(TranscriptionFrame(text=text, user_id=user_id, timestamp=timestamp), id=5)
    back = serializer.decode(serializer.encode(sent))
    assert isinstance(back, TranscriptionFrame)
    assert (back.text, back.user_id, back.timestamp, back.id) == (text, user_id, timestamp, 5)
