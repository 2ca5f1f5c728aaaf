"""Property tests: random payloads are written exactly like Pipecat (``json.dumps``) and come
back equal; random or mutated input either decodes or raises a MessageDecodeError."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_pipe.bus import messages as M
from trio_pipe.serializers import JSONMessageSerializer, MessageDecodeError

SERIALIZER = JSONMessageSerializer()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8"), max_size=20)  # no lone surrogates
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    scalars | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(text, values, max_size=5)


def pipecat_form(value: Any) -> Any:
    """What Pipecat's serializer builds before ``json.dumps`` (bytes as a tag)."""
    if isinstance(value, bytes):
        return {"__type__": "bytes", "__data__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: pipecat_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pipecat_form(v) for v in value]
    return value


@SETTINGS
@given(payload=payloads, job_name=st.none() | text)
def test_random_payloads_are_written_like_pipecat_and_round_trip(
    payload: dict[str, Any], job_name: str | None
) -> None:
    msg = M.BusJobRequestMessage(
        source="a", target="b", job_id="j", job_name=job_name, payload=payload
    )
    data = {"id": msg.id, "name": msg.name, "source": "a", "target": "b", "job_id": "j"}
    if job_name is not None:
        data["job_name"] = job_name
    data["payload"] = pipecat_form(payload)
    expected = json.dumps(
        {"__type__": "pipecat.bus.messages.BusJobRequestMessage", "__data__": data},
        separators=(",", ":"),
    ).encode()
    raw = SERIALIZER.serialize(msg)
    assert raw == expected
    assert SERIALIZER.deserialize(raw) == msg


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_decode_or_raise_a_decode_error(data: bytes) -> None:
    try:
        SERIALIZER.deserialize(data)
    except MessageDecodeError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
LENIENT = JSONMessageSerializer(allow_nan=True)
VECTORS = Path(__file__).parent.parent / "vectors" / "bus_json.jsonl"
WIRES = [json.loads(json.loads(line)["wire"]) for line in VECTORS.read_text().splitlines()]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@SETTINGS
@given(index=st.integers(0, len(WIRES) - 1), pick=st.integers(0, 10**6), value=json_values)
def test_mutated_vectors_decode_or_raise_a_decode_error(index: int, pick: int, value: Any) -> None:
    """Replace any one node of a real message with random JSON."""
    wire = json.loads(json.dumps(WIRES[index]))
    paths = _paths(wire)[1:]
    path = paths[pick % len(paths)]
    node = wire
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    raw = json.dumps(wire).encode()
    try:
        msg = SERIALIZER.deserialize(raw)
    except MessageDecodeError:
        return
    assert isinstance(msg, M.BusMessage)
    # Whatever decodes can be written again: NaN and infinities (read as Pipecat reads
    # them) only by a serializer that writes them as Pipecat does.
    LENIENT.serialize(msg)


@SETTINGS
@given(index=st.integers(0, len(WIRES) - 1), cut=st.integers(0, 10**6))
def test_truncated_vectors_raise_a_decode_error(index: int, cut: int) -> None:
    raw = json.dumps(WIRES[index], separators=(",", ":")).encode()
    try:
        SERIALIZER.deserialize(raw[: cut % len(raw)])
    except MessageDecodeError:
        return
    raise AssertionError("a truncated message decoded")
