"""JSONMessageSerializer: the spec checks S1-S9 (bus-workers-proxy.md §3, §8)."""
# ruff: noqa: E501  (tables of wire literals read better unwrapped)

from __future__ import annotations

import importlib
import json
import sys

import attrs
import pytest

from trio_pipe import frames as F
from trio_pipe.bus import messages as M
from trio_pipe.bus.messages import JobStatus, WorkerRegistryEntry
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers import (
    InvalidBase64Error,
    JSONMessageSerializer,
    MalformedMessageError,
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    MessageSerializer,
    MessageTooLargeError,
    MissingFieldError,
    NotABusMessageError,
    UnknownEnumMemberError,
    UnknownMessageTypeError,
    WrongFieldTypeError,
    default_registry,
)

# The four examples of spec §3, exactly as Pipecat 1.14 writes them in a fresh process.
EXAMPLES = [
    b'{"__type__":"pipecat.bus.messages.BusJobRequestMessage","__data__":{"id":0,"name":"BusJobRequestMessage#0","source":"voice","target":"worker","job_id":"j-1","job_name":"research","payload":{"query":"caf\\u00e9","limit":3,"tags":["a",null]}}}',
    b'{"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"id":1,"name":"BusJobResponseMessage#0","source":"worker","target":"voice","job_id":"j-1","status":"completed","response":{"ok":true}}}',
    b'{"__type__":"pipecat.bus.messages.BusWorkerRegistryMessage","__data__":{"id":2,"name":"BusWorkerRegistryMessage#0","source":"gateway","runner":"runner-b","workers":[{"__type__":"pipecat.registry.types.WorkerRegistryEntry","__data__":{"name":"worker","active":false,"bridged":false}}]}}',
    b'{"__type__":"pipecat.bus.messages.BusJobStreamDataMessage","__data__":{"id":3,"name":"BusJobStreamDataMessage#0","source":"worker","target":"voice","job_id":"j-1","data":{"chunk":{"__type__":"bytes","__data__":"AAH/"}}}}',
]  # fmt: skip


def with_identity(msg: M.BusMessage, id_: int, name: str) -> M.BusMessage:
    msg.id = id_
    msg.name = name
    return msg


def example_messages() -> list[M.BusMessage]:
    return [
        with_identity(
            M.BusJobRequestMessage(
                source="voice",
                target="worker",
                job_id="j-1",
                job_name="research",
                payload={"query": "café", "limit": 3, "tags": ["a", None]},
            ),
            0,
            "BusJobRequestMessage#0",
        ),
        with_identity(
            M.BusJobResponseMessage(
                source="worker",
                target="voice",
                job_id="j-1",
                status=JobStatus.COMPLETED,
                response={"ok": True},
            ),
            1,
            "BusJobResponseMessage#0",
        ),
        with_identity(
            M.BusWorkerRegistryMessage(
                source="gateway", runner="runner-b", workers=[WorkerRegistryEntry(name="worker")]
            ),
            2,
            "BusWorkerRegistryMessage#0",
        ),
        with_identity(
            M.BusJobStreamDataMessage(
                source="worker", target="voice", job_id="j-1", data={"chunk": b"\x00\x01\xff"}
            ),
            3,
            "BusJobStreamDataMessage#0",
        ),
    ]


def test_is_a_message_serializer(serializer: JSONMessageSerializer) -> None:
    assert isinstance(serializer, MessageSerializer)
    with pytest.raises(TypeError):
        MessageSerializer()  # type: ignore[abstract]


# --- S1, S2: the examples, both ways --------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_s1_examples_encode_to_pipecat_bytes(serializer: JSONMessageSerializer, index: int) -> None:
    assert serializer.serialize(example_messages()[index]) == EXAMPLES[index]


@pytest.mark.parametrize("index", range(4))
def test_s2_examples_decode_to_equal_messages(
    serializer: JSONMessageSerializer, index: int
) -> None:
    decoded = serializer.deserialize(EXAMPLES[index])
    assert decoded == example_messages()[index]
    assert type(decoded) is type(example_messages()[index])


def test_s2_details(serializer: JSONMessageSerializer) -> None:
    response = serializer.deserialize(EXAMPLES[1])
    assert type(response.status) is JobStatus and response.status is JobStatus.COMPLETED
    assert (response.id, response.name) == (1, "BusJobResponseMessage#0")
    stream = serializer.deserialize(EXAMPLES[3])
    assert stream.data == {"chunk": b"\x00\x01\xff"}
    registry = serializer.deserialize(EXAMPLES[2])
    assert registry.workers == [WorkerRegistryEntry(name="worker")]


def test_str_and_memoryview_input_decode_too(serializer: JSONMessageSerializer) -> None:
    assert serializer.deserialize(EXAMPLES[0].decode()) == example_messages()[0]
    assert serializer.deserialize(memoryview(EXAMPLES[0])) == example_messages()[0]


# --- S3: None left out, falsy values kept ---------------------------------------------------


def test_s3_none_fields_left_out_falsy_kept(serializer: JSONMessageSerializer) -> None:
    ready = M.BusWorkerReadyMessage(source="w", runner="r")
    data = json.loads(serializer.serialize(ready))["__data__"]
    assert list(data) == ["id", "name", "source", "runner", "active", "bridged"]
    assert data["active"] is False and data["bridged"] is False

    update = M.BusJobUpdateMessage(source="w", job_id="", update={})
    data = json.loads(serializer.serialize(update))["__data__"]
    assert data["job_id"] == "" and data["update"] == {}
    assert "target" not in data

    request = M.BusJobRequestMessage(
        source="a", job_id="j", payload={"n": None, "l": [None, 0, False, ""], "d": {}}
    )
    raw = serializer.serialize(request)
    assert b'"payload":{"n":null,"l":[null,0,false,""],"d":{}}' in raw
    assert serializer.deserialize(raw) == request


# --- S4: FrameDirection ---------------------------------------------------------------------


@pytest.mark.parametrize("direction", list(FrameDirection))
def test_s4_frame_direction_tag(
    serializer: JSONMessageSerializer, direction: FrameDirection
) -> None:
    msg = M.BusFrameMessage(source="a", frame=F.TextFrame(text="hi"), direction=direction)
    raw = serializer.serialize(msg)
    tag = (
        b'"direction":{"__type__":"pipecat.processors.frame_processor.FrameDirection",'
        b'"__data__":"' + direction.name.encode() + b'"}'
    )
    assert tag in raw
    decoded = serializer.deserialize(raw)
    assert decoded.direction is direction
    assert decoded == msg


# --- S5: every standard message round-trips -------------------------------------------------


def sample_messages() -> list[M.BusMessage]:
    """One instance of every standard non-local message, with non-default values."""
    audio = F.InputAudioRawFrame(audio=b"\x01\x02" * 160, sample_rate=16000, num_channels=1)
    audio.pts = 123
    audio.metadata = {"k": [1, 2.5, "é"]}
    return [
        M.BusFrameMessage(
            source="a", target="b", frame=audio, direction=FrameDirection.UPSTREAM, bridge="x"
        ),
        M.BusTTSSpeakMessage(source="a", text="héllo 👋", append_to_context=False),
        M.BusFlushProgressMessage(source="a", target="b", flush_id=7),
        M.BusActivateWorkerMessage(source="r", target="w", args={"metadata": {"k": "v"}}),
        M.BusDeactivateWorkerMessage(source="r", target="w"),
        M.BusEndMessage(source="w", reason="done"),
        M.BusEndWorkerMessage(source="r", target="w", reason="bye"),
        M.BusCancelMessage(source="w", reason="oops"),
        M.BusCancelWorkerMessage(source="r", target="w"),
        M.BusWorkerRegistryMessage(
            source="r",
            runner="r",
            workers=[
                WorkerRegistryEntry(name="a"),
                WorkerRegistryEntry(
                    name="b", parent="a", active=True, bridged=True, started_at=12.5
                ),
            ],
        ),
        M.BusWorkerReadyMessage(
            source="w", runner="r", parent="p", active=True, bridged=True, started_at=1.25e-7
        ),
        M.BusWorkerErrorMessage(source="w", error="boom"),
        M.BusJobRequestMessage(
            source="a", target="b", job_id="j", job_name="n", payload={"b": b"\x00", "x": [1e300]}
        ),
        M.BusJobResponseMessage(
            source="b", job_id="j", status=JobStatus.ERROR, response={"error": "E: x"}
        ),
        M.BusJobResponseUrgentMessage(source="b", job_id="j", status=JobStatus.CANCELLED),
        M.BusJobUpdateMessage(source="b", job_id="j", update={"p": 0.5}),
        M.BusJobUpdateUrgentMessage(source="b", job_id="j", update={"p": 1}),
        M.BusJobUpdateRequestMessage(source="a", target="b", job_id="j"),
        M.BusJobCancelMessage(source="a", target="b", job_id="j", reason="r"),
        M.BusJobStreamStartMessage(source="b", job_id="j", data={"t": "text"}),
        M.BusJobStreamDataMessage(source="b", job_id="j", data={"c": b"\xff" * 3}),
        M.BusJobStreamEndMessage(source="b", job_id="j"),
    ]


def test_s5_samples_cover_every_standard_message() -> None:
    standard = {
        cls
        for _, cls in default_registry()
        if isinstance(cls, type)
        and issubclass(cls, M.BusMessage)
        and cls.__module__ == "trio_pipe.bus.messages"
        and cls not in (M.BusMessage, M.BusDataMessage, M.BusSystemMessage)
    }
    assert standard == {type(m) for m in sample_messages()}


@pytest.mark.parametrize("msg", sample_messages(), ids=lambda m: type(m).__name__)
def test_s5_every_standard_message_round_trips(
    serializer: JSONMessageSerializer, msg: M.BusMessage
) -> None:
    raw = serializer.serialize(msg)
    assert raw.isascii()
    decoded = serializer.deserialize(raw)
    assert type(decoded) is type(msg)
    assert decoded == msg
    assert attrs.asdict(decoded, recurse=False) == attrs.asdict(msg, recurse=False)
    assert serializer.serialize(decoded) == raw


def test_frame_round_trip_keeps_frame_fields(serializer: JSONMessageSerializer) -> None:
    frame = F.TranscriptionFrame(text="hi", user_id="u", timestamp="t", language="en")
    frame.transport_source = "mic"
    frame.skip_tts = True
    msg = M.BusFrameMessage(source="a", frame=frame, direction=FrameDirection.DOWNSTREAM)
    decoded = serializer.deserialize(serializer.serialize(msg))
    assert decoded.frame == frame
    assert decoded.frame.skip_tts is True and decoded.frame.transport_source == "mic"


def test_frames_leave_out_process_local_fields(serializer: JSONMessageSerializer) -> None:
    frame = F.ErrorFrame(error="bad", processor=object(), exception=RuntimeError("x"))
    msg = M.BusFrameMessage(source="a", frame=frame, direction=FrameDirection.UPSTREAM)
    data = json.loads(serializer.serialize(msg))["__data__"]["frame"]["__data__"]
    assert "processor" not in data and "exception" not in data
    assert data["error"] == "bad" and data["fatal"] is False
    decoded = serializer.deserialize(serializer.serialize(msg)).frame
    assert (decoded.error, decoded.processor, decoded.exception) == ("bad", None, None)


def test_decoded_frame_matches_a_constructed_one(serializer: JSONMessageSerializer) -> None:
    """A frame decoded from its bare fields equals one built by the constructor."""
    raw = (
        b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"source":"a",'
        b'"frame":{"__type__":"pipecat.frames.frames.OutputAudioRawFrame","__data__":'
        b'{"audio":{"__type__":"bytes","__data__":"AAAAAA=="},"sample_rate":16000,'
        b'"num_channels":2}},"direction":{"__type__":'
        b'"pipecat.processors.frame_processor.FrameDirection","__data__":"DOWNSTREAM"}}}'
    )
    got = serializer.deserialize(raw).frame
    want = F.OutputAudioRawFrame(audio=b"\x00" * 4, sample_rate=16000, num_channels=2)
    want.id, want.name = got.id, got.name
    assert got == want and got.num_frames == 1
    end = serializer.deserialize(raw.replace(b"OutputAudioRawFrame", b"EndFrame", 1))
    assert end.frame.interruptible is False  # EndFrame's default, as its constructor sets


def test_decoding_an_audio_frame_validates_it(serializer: JSONMessageSerializer) -> None:
    msg = M.BusFrameMessage(
        source="a",
        frame=F.OutputAudioRawFrame(audio=b"\x00\x00", sample_rate=16000, num_channels=1),
        direction=FrameDirection.DOWNSTREAM,
    )
    raw = serializer.serialize(msg).replace(b'"num_channels":1', b'"num_channels":0')
    with pytest.raises(WrongFieldTypeError, match="num_channels"):
        serializer.deserialize(raw)


def test_fresh_id_and_name_when_absent(serializer: JSONMessageSerializer) -> None:
    raw = b'{"__type__":"pipecat.bus.messages.BusEndMessage","__data__":{"source":"w"}}'
    first, second = serializer.deserialize(raw), serializer.deserialize(raw)
    assert first.id != second.id
    assert first.name.startswith("BusEndMessage#") and first.name != second.name
    assert first.reason is None and first.target is None


def test_unknown_extra_keys_are_ignored_with_a_debug_log(
    serializer: JSONMessageSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b'{"__type__":"pipecat.bus.messages.BusEndMessage","__data__":{"source":"w","zzz":1}}'
    with caplog.at_level("DEBUG", logger="trio_pipe.serializers"):
        msg = serializer.deserialize(raw)
    assert not hasattr(msg, "zzz")
    assert any("zzz" in r.getMessage() for r in caplog.records)


def test_non_ascii_is_escaped_like_json(serializer: JSONMessageSerializer) -> None:
    text = 'é ✓ 👋 \u2028 \x7f \x00 "\\/ \t'
    raw = serializer.serialize(M.BusTTSSpeakMessage(source="a", text=text))
    assert json.dumps(text) in raw.decode("ascii")
    assert serializer.deserialize(raw).text == text


@pytest.mark.parametrize("value", [1e-05, -2.5e-300, 0.0001, 1e16, 1.5, -0.0, 2**70, 10**30])
def test_numbers_are_written_like_json(serializer: JSONMessageSerializer, value: float) -> None:
    msg = M.BusJobUpdateMessage(source="a", job_id="j", update={"v": value})
    assert b'"update":{"v":' + json.dumps(value).encode() + b"}" in serializer.serialize(msg)


def test_lone_surrogates_fall_back_to_the_stdlib_encoder(
    serializer: JSONMessageSerializer,
) -> None:
    msg = M.BusTTSSpeakMessage(source="a", text="x\ud800y")
    assert b'"text":"x\\ud800y"' in serializer.serialize(msg)


def test_tuples_are_written_as_arrays(serializer: JSONMessageSerializer) -> None:
    msg = M.BusJobUpdateMessage(source="a", job_id="j", update={"t": (1, (2, "x"))})
    assert b'"update":{"t":[1,[2,"x"]]}' in serializer.serialize(msg)


# --- S6: unknown tags never import ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"__type__":"os.system","__data__":"x"}',
        b'{"__type__":"subprocess.Popen","__data__":{"args":"ls"}}',
        b'{"__type__":"trio_pipe.bus.messages.BusEndMessage","__data__":{"source":"w"}}',
        b'{"__type__":"pipecat.bus.messages.BusJobRequestMessage","__data__":{"source":"a",'
        b'"job_id":"j","payload":{"x":{"__type__":"os.system","__data__":"rm"}}}}',
        b'{"__type__":"pipecat.bus.messages.BusAddWorkerMessage","__data__":{"source":"a"}}',
        b'{"__type__":["x"],"__data__":{}}',
    ],
)
def test_s6_unknown_tags_raise_without_importing(
    serializer: JSONMessageSerializer, raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_import(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"import attempted: {args}")

    monkeypatch.setattr(importlib, "import_module", no_import)
    before = set(sys.modules)
    with pytest.raises(UnknownMessageTypeError):
        serializer.deserialize(raw)
    assert set(sys.modules) == before


# --- S7: typed decode errors ----------------------------------------------------------------

REQ = b'{"__type__":"pipecat.bus.messages.BusJobRequestMessage","__data__":'


@pytest.mark.parametrize(
    ("raw", "error", "where"),
    [
        (b"{not json", MalformedMessageError, ""),
        (b"", MalformedMessageError, ""),
        (b"\xff\xfe", MalformedMessageError, ""),
        (b'{"a":nan}', MalformedMessageError, ""),  # NaN is read as Pipecat reads it
        (b"[1,2]", NotABusMessageError, ""),
        (b'{"source":"a"}', NotABusMessageError, ""),
        (b'"text"', NotABusMessageError, ""),
        (b'{"__type__":"bytes","__data__":"AA=="}', NotABusMessageError, ""),
        (
            b'{"__type__":"pipecat.registry.types.WorkerRegistryEntry","__data__":{"name":"x"}}',
            NotABusMessageError,
            "",
        ),
        (REQ + b'{"source":"a"}}', MissingFieldError, "BusJobRequestMessage.job_id"),
        (REQ + b'"x"}', WrongFieldTypeError, "BusJobRequestMessage"),
        (REQ + b'{"source":1,"job_id":"j"}}', WrongFieldTypeError, "BusJobRequestMessage.source"),
        (REQ + b'{"source":"a","job_id":7}}', WrongFieldTypeError, "BusJobRequestMessage.job_id"),
        (REQ + b'{"source":"a","job_id":"j","payload":[1]}}', WrongFieldTypeError, "BusJobRequestMessage.payload"),
        (REQ + b'{"source":"a","job_id":"j","payload":"s"}}', WrongFieldTypeError, "BusJobRequestMessage.payload"),
        (REQ + b'{"id":"1","source":"a","job_id":"j"}}', WrongFieldTypeError, "BusJobRequestMessage.id"),
        (REQ + b'{"id":true,"source":"a","job_id":"j"}}', WrongFieldTypeError, "BusJobRequestMessage.id"),
        (
            REQ + b'{"source":"a","job_id":"j","payload":{"b":{"__type__":"bytes","__data__":"AAH"}}}}',
            InvalidBase64Error,
            "BusJobRequestMessage.payload['b']",
        ),
        (
            REQ + b'{"source":"a","job_id":"j","payload":{"l":[0,{"__type__":"bytes","__data__":"A A="}]}}}',
            InvalidBase64Error,
            "BusJobRequestMessage.payload['l'][1]",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"source":"a",'
            b'"job_id":"j","status":"done"}}',
            UnknownEnumMemberError,
            "BusJobResponseMessage.status",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"source":"a",'
            b'"frame":{"__type__":"pipecat.frames.frames.TextFrame","__data__":{"text":"x"}},'
            b'"direction":{"__type__":"pipecat.processors.frame_processor.FrameDirection",'
            b'"__data__":"SIDEWAYS"}}}',
            UnknownEnumMemberError,
            "BusFrameMessage.direction",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"source":"a",'
            b'"frame":{"__type__":"pipecat.frames.frames.TextFrame","__data__":{"text":5}},'
            b'"direction":{"__type__":"pipecat.processors.frame_processor.FrameDirection",'
            b'"__data__":"UPSTREAM"}}}',
            WrongFieldTypeError,
            "BusFrameMessage.frame.text",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"source":"a",'
            b'"frame":{"__type__":"pipecat.registry.types.WorkerRegistryEntry","__data__":'
            b'{"name":"x"}},"direction":{"__type__":'
            b'"pipecat.processors.frame_processor.FrameDirection","__data__":"UPSTREAM"}}}',
            WrongFieldTypeError,
            "BusFrameMessage.frame",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusWorkerRegistryMessage","__data__":{"source":"a",'
            b'"runner":"r","workers":[{"name":"x"}]}}',
            WrongFieldTypeError,
            "BusWorkerRegistryMessage.workers[0]",
        ),
        (
            b'{"__type__":"pipecat.bus.messages.BusWorkerReadyMessage","__data__":{"source":"a",'
            b'"runner":"r","active":1}}',
            WrongFieldTypeError,
            "BusWorkerReadyMessage.active",
        ),
    ],
)  # fmt: skip
def test_s7_bad_input_raises_typed_errors(
    serializer: JSONMessageSerializer, raw: bytes, error: type[Exception], where: str
) -> None:
    with pytest.raises(error) as info:
        serializer.deserialize(raw)
    assert isinstance(info.value, MessageDecodeError) and isinstance(info.value, ValueError)
    assert info.value.where == where
    if where:
        assert str(info.value).startswith(where + ": ")


def test_s7_oversize_payload() -> None:
    small = JSONMessageSerializer(max_size=100)
    raw = JSONMessageSerializer().serialize(
        M.BusJobRequestMessage(source="a", job_id="j", payload={"x": "y" * 100})
    )
    with pytest.raises(MessageTooLargeError):
        small.deserialize(raw)
    assert JSONMessageSerializer().deserialize(raw).payload == {"x": "y" * 100}


def test_default_max_size_is_8_mib() -> None:
    assert JSONMessageSerializer().max_size == 8 * 1024 * 1024
    with pytest.raises(MessageTooLargeError):
        JSONMessageSerializer().deserialize(b" " * (8 * 1024 * 1024 + 1))


def test_nesting_limit(serializer: JSONMessageSerializer) -> None:
    def nested(levels: int) -> bytes:
        return (
            REQ
            + b'{"source":"a","job_id":"j","payload":'
            + b'{"a":' * levels
            + b"1"
            + b"}" * levels
            + b"}}"
        )

    serializer.deserialize(nested(serializer.max_depth - 2))  # the limit counts the envelope
    with pytest.raises(MessageNestingError):
        serializer.deserialize(nested(serializer.max_depth - 1))
    with pytest.raises(MessageNestingError):
        serializer.deserialize(nested(5000))
    deep_list = (
        REQ + b'{"source":"a","job_id":"j","payload":{"a":' + b"[" * 200 + b"]" * 200 + b"}}}"
    )
    with pytest.raises(MessageNestingError):
        serializer.deserialize(deep_list)
    assert JSONMessageSerializer(max_depth=500).deserialize(deep_list).payload["a"]


# --- S8: encode errors name the field path --------------------------------------------------


def test_s8_local_message_cannot_be_encoded(serializer: JSONMessageSerializer) -> None:
    with pytest.raises(MessageEncodeError, match="local message"):
        serializer.serialize(M.BusAddWorkerMessage(source="p", worker=object()))
    with pytest.raises(MessageEncodeError, match="local message"):
        serializer.serialize(M.BusWorkerLocalErrorMessage(source="c", error="x"))


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"s": {1, 2}}, "BusJobRequestMessage.payload['s']"),
        ({"a": [1, {"f": print}]}, "BusJobRequestMessage.payload['a'][1]['f']"),
        ({"n": float("nan")}, "BusJobRequestMessage.payload['n']"),
        ({"i": [float("inf")]}, "BusJobRequestMessage.payload['i'][0]"),
        ({"o": object()}, "BusJobRequestMessage.payload['o']"),
        ({1: "x"}, "BusJobRequestMessage.payload"),
        ({"e": WorkerRegistryEntry}, "BusJobRequestMessage.payload['e']"),
    ],
)
def test_s8_unencodable_values_name_the_path(
    serializer: JSONMessageSerializer, payload: dict, where: str
) -> None:
    msg = M.BusJobRequestMessage(source="a", job_id="j", payload=payload)
    with pytest.raises(MessageEncodeError) as info:
        serializer.serialize(msg)
    assert info.value.where == where
    assert str(info.value).startswith(where + ": ")


def test_s8_wrong_field_types_are_refused(serializer: JSONMessageSerializer) -> None:
    with pytest.raises(MessageEncodeError) as info:
        serializer.serialize(M.BusJobRequestMessage(source="a", job_id=5))  # type: ignore[arg-type]
    assert info.value.where == "BusJobRequestMessage.job_id"
    with pytest.raises(MessageEncodeError) as info:
        serializer.serialize(M.BusJobResponseMessage(source="a", job_id="j", status="done"))  # type: ignore[arg-type]
    assert info.value.where == "BusJobResponseMessage.status"
    frame = F.TextFrame(text="x")
    frame.metadata = {"bad": {1, 2}}
    with pytest.raises(MessageEncodeError) as info:
        serializer.serialize(
            M.BusFrameMessage(source="a", frame=frame, direction=FrameDirection.DOWNSTREAM)
        )
    assert info.value.where == "BusFrameMessage.frame.metadata['bad']"
    with pytest.raises(MessageEncodeError, match="not a BusMessage"):
        serializer.serialize(WorkerRegistryEntry(name="x"))  # type: ignore[arg-type]


def test_s8_status_as_plain_string_is_written_as_its_value(
    serializer: JSONMessageSerializer,
) -> None:
    msg = M.BusJobResponseMessage(source="a", job_id="j", status="failed")  # type: ignore[arg-type]
    assert b'"status":"failed"' in serializer.serialize(msg)
    assert serializer.deserialize(serializer.serialize(msg)).status is JobStatus.FAILED


def test_circular_payload_is_an_encode_error(serializer: JSONMessageSerializer) -> None:
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(MessageEncodeError):
        serializer.serialize(M.BusJobRequestMessage(source="a", job_id="j", payload=loop))


# --- S9: application classes ----------------------------------------------------------------


@attrs.define
class Ping(M.BusDataMessage):
    """An application message."""

    count: int
    when: float | None = None
    tags: list[str] = attrs.Factory(list)
    blob: bytes | None = None
    direction: FrameDirection = FrameDirection.DOWNSTREAM


def test_s9_application_class_round_trips_under_its_wire_name() -> None:
    registry = default_registry().copy()
    registry.register(Ping, "app.Ping")
    serializer = JSONMessageSerializer(registry=registry)
    ping = Ping(count=3, source="a", when=0.5, tags=["x"], blob=b"\x01")
    raw = serializer.serialize(ping)
    assert raw.startswith(b'{"__type__":"app.Ping","__data__":{"id":')
    assert serializer.deserialize(raw) == ping
    with pytest.raises(ValueError, match=r"app\.Ping"):
        registry.register(Ping, "app.Ping")

    # Unregistered elsewhere: the default registry neither writes nor reads it.
    with pytest.raises(MessageEncodeError, match="not registered"):
        JSONMessageSerializer().serialize(ping)
    with pytest.raises(UnknownMessageTypeError):
        JSONMessageSerializer().deserialize(raw)


def test_s9_register_rules() -> None:
    registry = default_registry().copy()

    @registry.register
    @attrs.define
    class Pong(M.BusDataMessage):
        n: int = 0

    assert registry.wire_name_of(Pong) == f"{__name__}.{Pong.__qualname__}"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Pong, "another.Name")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Ping, "pipecat.bus.messages.BusEndMessage")
    with pytest.raises(TypeError, match="local message"):
        registry.register(M.BusAddWorkerMessage, "x.Add")
    with pytest.raises(TypeError):
        registry.register(dict, "x.dict")

    @registry.register("app.Pang")
    @attrs.define
    class Pang(M.BusDataMessage):
        pass

    serializer = JSONMessageSerializer(registry=registry)
    assert type(serializer.deserialize(serializer.serialize(Pang(source="s")))) is Pang
    assert type(serializer.deserialize(serializer.serialize(Pong(source="s")))) is Pong


def test_registry_names_follow_pipecat() -> None:
    registry = default_registry()
    assert registry.class_of("pipecat.bus.messages.BusJobRequestMessage") is M.BusJobRequestMessage
    assert registry.class_of("pipecat.registry.types.WorkerRegistryEntry") is WorkerRegistryEntry
    assert registry.class_of("pipecat.processors.frame_processor.FrameDirection") is FrameDirection
    assert registry.class_of("pipecat.frames.frames.TTSAudioRawFrame") is F.TTSAudioRawFrame
    assert registry.class_of("pipecat.frames.frames.EndWorkerFrame") is F.EndWorkerFrame
    assert registry.class_of("bytes") is bytes
    assert registry.wire_name_of(M.BusAddWorkerMessage) is None
    assert registry.wire_name_of(M.BusWorkerLocalErrorMessage) is None


def test_converter_hooks_are_the_generated_ones(serializer: JSONMessageSerializer) -> None:
    msg = example_messages()[1]
    tagged = serializer.converter.unstructure(msg)
    assert tagged["__type__"] == "pipecat.bus.messages.BusJobResponseMessage"
    assert serializer.converter.structure(tagged["__data__"], M.BusJobResponseMessage) == msg
