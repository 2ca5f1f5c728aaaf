"""Lossless JSON interop (issue 13, item 5): NaN and infinities from a Pipecat peer decode
as Pipecat decodes them, integers beyond 64 bits stay exact, and our encoder refuses NaN
unless configured for Pipecat's leniency."""

from __future__ import annotations

import json
import math

import pytest

from trio_pipe.bus import messages as M
from trio_pipe.serializers import JSONMessageSerializer, default_registry
from trio_pipe.serializers.errors import MalformedMessageError, MessageEncodeError

REQUEST = "pipecat.bus.messages.BusJobRequestMessage"
BIG = [2**70 + 1, 2**64, -(2**63) - 1, -(2**80), 2**63, 2**64 - 1, 1700000000000000000]


def pipecat_wire(payload: dict) -> str:
    """The wire as Pipecat writes it: Python's ``json.dumps`` (NaN allowed)."""
    data = {"id": 7, "name": "BusJobRequestMessage#7", "source": "p", "job_id": "j"}
    return json.dumps({"__type__": REQUEST, "__data__": {**data, "payload": payload}})


@pytest.mark.parametrize("as_type", [bytes, str, bytearray, memoryview])
def test_nan_and_infinities_decode_as_python_json_reads_them(as_type) -> None:
    wire = pipecat_wire({"n": math.nan, "inf": math.inf, "ninf": -math.inf, "x": [1.5]})
    assert "NaN" in wire and "-Infinity" in wire
    data = wire if as_type is str else as_type(wire.encode())
    message = JSONMessageSerializer().deserialize(data)
    payload = message.payload
    assert math.isnan(payload["n"])
    assert (payload["inf"], payload["ninf"], payload["x"]) == (math.inf, -math.inf, [1.5])


@pytest.mark.parametrize("as_type", [bytes, str])
def test_integers_beyond_64_bits_stay_exact(as_type) -> None:
    wire = pipecat_wire({"big": BIG, "text": "12345678901234567890123", "f": 0.1})
    data = wire if as_type is str else wire.encode()
    payload = JSONMessageSerializer().deserialize(data).payload
    assert payload["big"] == BIG
    assert all(type(v) is int for v in payload["big"])
    assert payload["text"] == "12345678901234567890123" and payload["f"] == 0.1


def test_big_integers_encode_exact_and_round_trip() -> None:
    serializer = JSONMessageSerializer()
    message = M.BusJobRequestMessage(source="a", job_id="j", payload={"big": BIG})
    out = serializer.serialize(message)
    assert b"1180591620717411303425" in out
    assert serializer.deserialize(out).payload == {"big": BIG}


def test_the_encoder_refuses_nan_by_default_naming_where() -> None:
    message = M.BusJobRequestMessage(source="a", job_id="j", payload={"v": [1.0, math.inf]})
    with pytest.raises(MessageEncodeError) as info:
        JSONMessageSerializer().serialize(message)
    assert info.value.where == "BusJobRequestMessage.payload['v'][1]"
    assert "allow_nan=True" in str(info.value)


def test_allow_nan_writes_what_pythons_json_writes() -> None:
    payload = {"n": math.nan, "i": math.inf, "m": -math.inf, "big": 2**70 + 1, "u": "é"}
    message = M.BusJobRequestMessage(source="a", job_id="j", payload=payload)
    out = JSONMessageSerializer(allow_nan=True).serialize(message)
    expected_payload = json.dumps(payload, separators=(",", ":"))
    assert expected_payload.encode() in out
    back = JSONMessageSerializer().deserialize(out).payload
    assert math.isnan(back["n"]) and back["i"] == math.inf and back["big"] == 2**70 + 1


def test_a_registry_configured_for_leniency_is_followed_unless_overridden() -> None:
    registry = default_registry().copy()
    registry.allow_nan = True
    message = M.BusJobRequestMessage(source="a", job_id="j", payload={"n": math.nan})
    assert b'"n":NaN' in JSONMessageSerializer(registry=registry).serialize(message)
    assert registry.copy().allow_nan
    with pytest.raises(MessageEncodeError):
        JSONMessageSerializer(registry=registry, allow_nan=False).serialize(message)


@pytest.mark.parametrize(
    "raw", [b'{"a":nan}', b'{"a":NaN', b'{"a":Infinityx}', b"\xff" + b"1" * 30, b""]
)
def test_what_neither_parser_reads_is_still_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        JSONMessageSerializer().deserialize(raw)
