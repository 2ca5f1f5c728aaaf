"""Runs under Pipecat 1.14's interpreter (PIPECAT_PYTHON), not trio_pipe's.

Reads ``{"wires": [str, ...]}`` on stdin. For each wire string, Pipecat's own
``JSONMessageSerializer`` decodes it, and the answer holds, per wire:

* ``described``: the decoded object as plain JSON (see ``describe``), or ``{"raises": ...}``;
* ``reencoded``: Pipecat's serialization of what it decoded (the bytes a Pipecat process
  would put on the wire for that message), as text.

Prints one JSON line.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import sys

from loguru import logger

logger.remove()  # stdout is the channel to the test

from pipecat.bus.serializers import JSONMessageSerializer  # noqa: E402


def describe(value: object) -> object:
    """Plain JSON for a decoded value; the test side describes its objects the same way."""
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
    if isinstance(value, list):
        return [describe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__class__": f"{cls.__module__}.{cls.__qualname__}", "fields": fields}
    return {"__repr__": repr(value)}


def main() -> None:
    request = json.load(sys.stdin)
    serializer = JSONMessageSerializer()
    described, reencoded = [], []
    for wire in request["wires"]:
        try:
            message = serializer.deserialize(wire.encode())
        except Exception as exc:
            described.append({"raises": type(exc).__name__})
            reencoded.append(None)
            continue
        described.append(describe(message))
        reencoded.append(serializer.serialize(message).decode())
    print(json.dumps({"described": described, "reencoded": reencoded}))


if __name__ == "__main__":
    main()
