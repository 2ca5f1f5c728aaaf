"""The JSON bus wire against the real thing: Pipecat 1.14's JSONMessageSerializer.

One Pipecat subprocess (``pipecat_bus_json_peer.py``) decodes, in one go:

* trio_pipe's encoding of each Pipecat vector and of extra messages the vectors lack: it
  must find the same class and field values, and its own re-encoding of what it decoded
  must be our bytes exactly (byte-identical, live);
* each vector itself: its re-encoding must be the vector (the vectors are live Pipecat
  output), and trio_pipe must decode that to what Pipecat decoded.
"""

from __future__ import annotations

import base64
import enum
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from trio_pipe import frames as F
from trio_pipe.bus import messages as M
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers import JSONMessageSerializer, default_registry

PEER = Path(__file__).with_name("pipecat_bus_json_peer.py")
VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "vectors" / "bus_json.jsonl")
    .read_text()
    .splitlines()
]
SERIALIZER = JSONMessageSerializer()


def extra_messages() -> list[M.BusMessage]:
    """Messages and values the vectors do not cover."""
    transcription = F.TranscriptionFrame(text="ça va ✓", user_id="u1", timestamp="t", language="fr")
    transcription.pts = 2**40
    audio = F.TTSAudioRawFrame(audio=bytes(range(256)), sample_rate=24000, num_channels=2)
    audio.context_id = "ctx"
    audio.metadata = {"k": [1, None, 1e-7]}
    end = F.EndFrame(reason="done")
    end.transport_destination = "peer"
    down = FrameDirection.DOWNSTREAM
    return [
        M.BusFlushProgressMessage(source="a", target="b", flush_id=3),
        M.BusJobUpdateUrgentMessage(source="w", target="v", job_id="j", update={"p": 1}),
        M.BusJobRequestMessage(
            source="v",
            job_id="j",
            payload={"u": "😀 \u2028 \x7f", "f": [1e-5, 1e16, -0.0, 2.5], "b": [b"", b"\xff"]},
        ),
        M.BusJobResponseMessage(source="w", job_id="j", status=M.JobStatus.ERROR, response={}),
        M.BusWorkerReadyMessage(source="w", runner="r", parent="p", started_at=1700000000),
        M.BusFrameMessage(source="a", frame=transcription, direction=down),
        M.BusFrameMessage(source="a", frame=audio, direction=FrameDirection.UPSTREAM, bridge="b"),
        M.BusFrameMessage(source="a", frame=end, direction=down),
        M.BusFrameMessage(source="a", frame=F.InterruptionFrame(), direction=down),
        M.BusFrameMessage(source="a", frame=F.ErrorFrame(error="x", fatal=True), direction=down),
        M.BusFrameMessage(
            source="a", frame=F.OutputTransportMessageUrgentFrame(message=[1, "x"]), direction=down
        ),
    ]


EXTRA = extra_messages()  # built once: ids and names must match between fixture and tests


def describe(value: Any) -> Any:
    """Plain JSON for a trio_pipe value, in the peer's ``describe`` form."""
    if isinstance(value, enum.Enum):
        if isinstance(value, str | int):
            return value.value
        return {"__enum__": f"{type(value).__name__}.{value.name}"}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    cls = type(value)
    skip = default_registry().excluded_fields(cls)
    fields = {
        a.name: describe(getattr(value, a.name)) for a in attrs.fields(cls) if a.name not in skip
    }
    return {"__class__": default_registry().wire_name_of(cls), "fields": fields}


def assert_same(ours: Any, theirs: Any, path: str = "") -> None:
    """Same class and field values. Pipecat's classes may have more fields than ours."""
    if isinstance(ours, dict) and "__class__" in ours:
        assert isinstance(theirs, dict) and theirs.get("__class__") == ours["__class__"], path
        for name, value in ours["fields"].items():
            assert name in theirs["fields"], f"{path}.{name}: Pipecat has no such field"
            assert_same(value, theirs["fields"][name], f"{path}.{name}")
    elif isinstance(ours, dict):
        assert isinstance(theirs, dict) and list(theirs) == list(ours), path
        for key, value in ours.items():
            assert_same(value, theirs[key], f"{path}[{key!r}]")
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(theirs) == len(ours), path
        for i, value in enumerate(ours):
            assert_same(value, theirs[i], f"{path}[{i}]")
    else:
        assert ours == theirs and type(ours) is type(theirs), f"{path}: {ours!r} != {theirs!r}"


def _ours(case: dict[str, Any]) -> M.BusMessage:
    return SERIALIZER.deserialize(case["wire"].encode())


@pytest.fixture(scope="module")
def answers(pipecat: Any) -> dict[str, dict[str, Any]]:
    """Pipecat's verdict on every wire string this module sends, by wire string."""
    wires = [v["wire"] for v in VECTORS]
    for case in VECTORS:
        wires.append(SERIALIZER.serialize(_ours(case)).decode())
    wires += [SERIALIZER.serialize(m).decode() for m in EXTRA]
    reply = pipecat.run_json(PEER, {"wires": wires})
    return {
        wire: {"described": d, "reencoded": r}
        for wire, d, r in zip(wires, reply["described"], reply["reencoded"], strict=True)
    }


@pytest.mark.parametrize("case", VECTORS, ids=[v["case"] for v in VECTORS])
def test_pipecat_decodes_our_encoding_of_each_vector(
    answers: dict[str, dict[str, Any]], case: dict[str, Any]
) -> None:
    ours = _ours(case)
    wire = SERIALIZER.serialize(ours).decode()
    answer = answers[wire]
    assert_same(describe(ours), answer["described"])
    assert answer["reencoded"] == wire


@pytest.mark.parametrize("case", VECTORS, ids=[v["case"] for v in VECTORS])
def test_we_decode_pipecats_encoding_of_each_vector(
    answers: dict[str, dict[str, Any]], case: dict[str, Any]
) -> None:
    answer = answers[case["wire"]]
    assert answer["reencoded"] == case["wire"], "the vector is not what Pipecat 1.14 writes"
    ours = SERIALIZER.deserialize(answer["reencoded"].encode())
    assert_same(describe(ours), answer["described"])


@pytest.mark.parametrize("message", EXTRA, ids=lambda m: type(m).__name__)
def test_both_ways_for_messages_beyond_the_vectors(
    answers: dict[str, dict[str, Any]], message: M.BusMessage
) -> None:
    wire = SERIALIZER.serialize(message).decode()
    answer = answers[wire]
    assert_same(describe(message), answer["described"])
    # Pipecat's re-encoding of what it decoded comes back to the message we sent (its
    # classes may add fields of their own, which we ignore).
    assert SERIALIZER.deserialize(answer["reencoded"].encode()) == message
