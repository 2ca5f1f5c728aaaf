"""The 30 Pipecat 1.14 wire vectors: each decodes to the matching class with the wire's field
values, and re-encodes to the very same bytes (ids and names come from the wire)."""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

import attrs

from trio_pipe.bus.messages import BusMessage, JobStatus
from trio_pipe.serializers import JSONMessageSerializer, default_registry


def assert_matches(value: Any, wire: Any, path: str = "") -> None:
    """``value`` (decoded by trio_pipe) holds exactly what the wire JSON ``wire`` says.

    Written independently of the serializer: tags are interpreted here by hand.
    """
    if isinstance(wire, dict) and "__type__" in wire and "__data__" in wire:
        tag, data = wire["__type__"], wire["__data__"]
        if tag == "bytes":
            assert value == base64.b64decode(data, validate=True), path
            return
        cls = default_registry().class_of(tag)
        assert cls is not None, f"{path}: {tag} not registered"
        assert type(value) is cls, f"{path}: {type(value).__name__} is not {tag}"
        if issubclass(cls, enum.Enum):
            assert value is cls[data], path
            return
        declared = {a.name for a in attrs.fields(cls)}
        assert set(data) <= declared, f"{path}: wire keys {set(data) - declared} undeclared"
        for key, item in data.items():
            assert_matches(getattr(value, key), item, f"{path}.{key}")
        for a in attrs.fields(cls):  # everything the wire left out is None or a default
            if a.name not in data and a.name not in ("id", "name"):
                got = getattr(value, a.name)
                assert got is None or got == _default(cls, a), f"{path}.{a.name}: {got!r}"
        return
    if isinstance(wire, dict):
        assert type(value) is dict and list(value) == list(wire), path
        for key, item in wire.items():
            assert_matches(value[key], item, f"{path}[{key!r}]")
    elif isinstance(wire, list):
        assert type(value) is list and len(value) == len(wire), path
        for i, item in enumerate(wire):
            assert_matches(value[i], item, f"{path}[{i}]")
    else:
        assert value == wire and (type(value) is type(wire) or isinstance(value, JobStatus)), path


def _default(cls: type, a: attrs.Attribute) -> Any:
    if a.name == "interruptible":
        return cls.default_interruptible
    if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
        return a.default.factory()
    return a.default


def test_vectors_are_all_there(bus_vector: dict[str, Any]) -> None:
    assert bus_vector["wire"].isascii()


def test_vector_decodes_and_re_encodes_byte_identical(
    serializer: JSONMessageSerializer, bus_vector: dict[str, Any]
) -> None:
    raw = bus_vector["wire"].encode()
    wire = json.loads(raw)
    message = serializer.deserialize(raw)
    assert isinstance(message, BusMessage)
    assert type(message).__name__ == wire["__type__"].rsplit(".", 1)[1]
    assert_matches(message, wire)
    if "status" in wire["__data__"] and wire["__type__"].startswith("pipecat.bus.messages."):
        assert type(message.status) is JobStatus
    assert serializer.serialize(message) == raw
