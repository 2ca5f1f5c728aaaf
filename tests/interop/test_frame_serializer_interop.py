"""Frame serializers (protobuf, Twilio) against the real thing: Pipecat 1.14 in its own interpreter.

Both directions, for a spread of frames: Pipecat's bytes equal ours, Pipecat decodes our
bytes to the frames we sent, we decode Pipecat's bytes to the frames it sent, and the two
schemas agree field by field. One subprocess per module (importing Pipecat takes ~0.5 s).

No shared interop harness existed when this was written, so the subprocess call is local.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from trio_pipe import frames as F
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer, frame_message_class
from trio_pipe.serializers.twilio import TwilioFrameSerializer, TwilioSerializerParams

PEER = Path(__file__).with_name("pipecat_serializer_peer.py")


AUDIO = bytes(range(256)) * 5  # 1280 bytes, every byte value
# Every spec with a wire form sets id and name: locally minted ones differ between processes.
SPECS: list[dict[str, Any]] = [
    {"cls": "TextFrame", "args": {"text": "hi"}, "set": {"id": 1, "name": "TextFrame#0"}},
    {"cls": "TextFrame", "args": {"text": "héllo ✓ \u2028"}, "set": {"id": 2**40, "name": "T#7"}},
    {"cls": "TextFrame", "args": {"text": ""}, "set": {"id": 5, "name": "T"}},
    {
        "cls": "OutputAudioRawFrame",
        "args": {"audio": "01000200", "sample_rate": 16000, "num_channels": 1},
        "set": {"id": 2, "name": "OutputAudioRawFrame#0"},
    },
    {
        "cls": "OutputAudioRawFrame",
        "args": {"audio": AUDIO.hex(), "sample_rate": 48000, "num_channels": 2},
        "set": {"id": 3, "name": "OutputAudioRawFrame#9", "pts": 12345},
    },
    {
        "cls": "OutputAudioRawFrame",
        "args": {"audio": "0100", "sample_rate": 8000, "num_channels": 1},
        "set": {"id": 0, "name": "", "pts": 2**62},
    },
    {
        "cls": "TranscriptionFrame",
        "args": {"text": "yo", "user_id": "user-1", "timestamp": "2026-01-01T00:00:00Z"},
        "set": {"id": 77, "name": "TranscriptionFrame#3"},
    },
    {"cls": "InterruptionFrame", "set": {"id": 9, "name": "InterruptionFrame#0"}},
    {"cls": "OutputTransportMessageUrgentFrame", "args": {"message": {"type": "ping", "n": 1}}},
    {
        "cls": "OutputTransportMessageFrame",
        "args": {"message": {"label": "rtvi-ai", "type": "bot-ready", "data": {"u": "é"}}},
    },
    {"cls": "OutputTransportMessageFrame", "args": {"message": [1, "s", None, 2.5, True]}},
    {"cls": "OutputTransportMessageFrame", "args": {"message": "just a string"}},
    # No wire form on either side:
    {"cls": "EndFrame"},
    {"cls": "CancelFrame"},
    {"cls": "InputAudioRawFrame", "args": {"audio": "00", "sample_rate": 16000, "num_channels": 1}},
    {"cls": "TTSAudioRawFrame", "args": {"audio": "00", "sample_rate": 16000, "num_channels": 1}},
]  # fmt: skip

# Payloads that only one side can produce by accident: decoded by both and compared.
EXTRA_PAYLOADS = [
    "2a00",
    "120f1a08000100010001000120807d2801",
    "222e0a2c" + b'{"label": "rtvi-ai", "type": "client-ready"}'.hex(),
    "0a00",  # empty TextFrame
    "1a00",  # empty TranscriptionFrame
]
# Payloads Pipecat raises on (S6); trio_pipe returns None instead.
BAD_PAYLOADS = {
    "ffffff": "DecodeError",
    "120a1a080001000100010001": "ZeroDivisionError",  # audio without channels
    "22070a05" + b"{nope".hex(): None,  # bad JSON: Pipecat returns None too
    "": None,  # no frame
}

TWILIO_SID = "MZ" + "ab" * 16
TONE_8K = bytes((i * 37) % 256 for i in range(320))
TWILIO = {
    "stream_sid": TWILIO_SID,
    "serialize": [
        {"cls": "OutputAudioRawFrame",
         "args": {"audio": TONE_8K.hex(), "sample_rate": 8000, "num_channels": 1}},
        {"cls": "InputAudioRawFrame",
         "args": {"audio": TONE_8K.hex(), "sample_rate": 8000, "num_channels": 1}},
        {"cls": "InterruptionFrame"},
        {"cls": "OutputTransportMessageUrgentFrame", "args": {"message": {"event": "mark"}}},
        {"cls": "OutputTransportMessageFrame", "args": {"message": {"label": "rtvi-ai"}}},
        {"cls": "TextFrame", "args": {"text": "x"}},
        {"cls": "EndFrame"},
    ],
    "deserialize": [
        json.dumps({"event": "media", "streamSid": TWILIO_SID,
                    "media": {"payload": base64.b64encode(bytes(range(256))).decode()}}),
        json.dumps({"event": "start", "streamSid": TWILIO_SID}),
        json.dumps({"event": "stop", "streamSid": TWILIO_SID}),
        json.dumps({"event": "media", "media": {}}),
        "{not json",
    ],
}  # fmt: skip


def _build(spec: dict[str, Any]) -> F.Frame:
    args = dict(spec.get("args", {}))
    if "audio" in args:
        args["audio"] = bytes.fromhex(args["audio"])
    frame = getattr(F, spec["cls"])(**args)
    for name, value in spec.get("set", {}).items():
        setattr(frame, name, value)
    return frame


def _describe(frame: F.Frame | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    out: dict[str, Any] = {
        "cls": type(frame).__name__, "id": frame.id, "name": frame.name, "pts": frame.pts
    }  # fmt: skip
    for field in ("text", "user_id", "timestamp", "sample_rate", "num_channels", "num_frames"):
        if hasattr(frame, field):
            out[field] = getattr(frame, field)
    if hasattr(frame, "audio"):
        out["audio"] = frame.audio.hex()
    if hasattr(frame, "message"):
        out["message"] = frame.message
    return out


def _comparable(described: dict[str, Any] | None) -> dict[str, Any] | None:
    # Locally minted ids/names differ between processes; compare them only when they
    # came from the wire (then they must be equal), which the caller checks separately.
    if described is None:
        return None
    return {k: v for k, v in described.items() if k not in ("id", "name")}


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    serializer = ProtobufFrameSerializer()
    encoded = [serializer.encode(_build(spec)) for spec in SPECS]
    return {"serialize": [None if data is None else data.hex() for data in encoded]}


@pytest.fixture(scope="module")
def pipecat(ours: dict[str, Any], pipecat_python: str) -> dict[str, Any]:
    our_payloads = [data for data in ours["serialize"] if data is not None]
    request = {
        "serialize": SPECS,
        "deserialize": our_payloads + EXTRA_PAYLOADS + list(BAD_PAYLOADS),
        "twilio": TWILIO,
    }
    done = subprocess.run(
        [pipecat_python, str(PEER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    answer["our_payloads"] = our_payloads
    return answer


def test_same_bytes_for_every_frame(ours: dict[str, Any], pipecat: dict[str, Any]) -> None:
    for spec, mine, theirs in zip(SPECS, ours["serialize"], pipecat["serialize"], strict=True):
        assert mine == theirs, spec


def test_pipecat_decodes_our_bytes_to_our_frames(pipecat: dict[str, Any]) -> None:
    serializer = ProtobufFrameSerializer()
    payloads = pipecat["our_payloads"]
    for payload, theirs in zip(payloads, pipecat["deserialize"], strict=False):
        mine = _describe(serializer.decode(bytes.fromhex(payload)))
        assert _comparable(mine) == _comparable(theirs), payload
        # Identity that travelled on the wire is kept by both sides.
        frame = frame_message_class().FromString(bytes.fromhex(payload))
        inner = getattr(frame, frame.WhichOneof("frame"))
        if getattr(inner, "id", 0):
            assert mine["id"] == theirs["id"] == inner.id
        if getattr(inner, "name", ""):
            assert mine["name"] == theirs["name"] == inner.name


def test_we_decode_pipecat_bytes_like_pipecat(pipecat: dict[str, Any]) -> None:
    serializer = ProtobufFrameSerializer()
    offset = len(pipecat["our_payloads"])
    theirs = pipecat["deserialize"][offset : offset + len(EXTRA_PAYLOADS)]
    for payload, described in zip(EXTRA_PAYLOADS, theirs, strict=True):
        assert _comparable(_describe(serializer.decode(bytes.fromhex(payload)))) == _comparable(
            described
        ), payload
    for data in pipecat["serialize"]:
        if data is not None:
            assert serializer.decode(bytes.fromhex(data)) is not None
    assert serializer.decode_errors == 0


def test_bad_payloads_pipecat_raises_we_drop(pipecat: dict[str, Any]) -> None:
    serializer = ProtobufFrameSerializer()
    theirs = pipecat["deserialize"][-len(BAD_PAYLOADS) :]
    for (payload, raises), described in zip(BAD_PAYLOADS.items(), theirs, strict=True):
        assert described == ({"raises": raises} if raises else None), payload
        assert serializer.decode(bytes.fromhex(payload)) is None
    assert serializer.decode_errors == len(BAD_PAYLOADS)


def test_schema_matches_pipecat(pipecat: dict[str, Any]) -> None:
    envelope = frame_message_class().DESCRIPTOR
    mine = []
    for message in envelope.file.message_types_by_name.values():
        for field in message.fields:
            if field.containing_oneof is not None and field.containing_oneof.name == "frame":
                mine.append(
                    [message.name, field.name, field.number, field.message_type.name, False]
                )
            else:
                mine.append(
                    [message.name, field.name, field.number, field.type, field.has_presence]
                )
    assert sorted(map(json.dumps, mine)) == sorted(map(json.dumps, pipecat["schema"]))


async def test_twilio_same_events_both_ways_at_8khz(pipecat: dict[str, Any]) -> None:
    # Without resampling the two Twilio serializers must agree exactly (µ-law is G.711
    # both sides; resampling engines differ by design, see docs/migrating-from-pipecat.md).
    serializer = TwilioFrameSerializer(
        TWILIO_SID, params=TwilioSerializerParams(sample_rate=8000, auto_hang_up=False)
    )
    for spec, theirs in zip(TWILIO["serialize"], pipecat["twilio_serialize"], strict=True):
        assert await serializer.serialize(_build(spec)) == theirs, spec
    for text, theirs in zip(TWILIO["deserialize"], pipecat["twilio_deserialize"], strict=True):
        mine = _describe(await serializer.deserialize(text))
        assert _comparable(mine) == _comparable(theirs), text
