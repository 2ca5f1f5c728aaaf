"""The serializer package's modules: new names, and the old import paths still working."""

from __future__ import annotations

import importlib

import trio_pipe.serializers as package
from trio_pipe.serializers import json_serializer, wire_names


def test_old_module_paths_re_export_the_same_objects() -> None:
    messages = importlib.import_module("trio_pipe.serializers.messages")
    registry = importlib.import_module("trio_pipe.serializers.registry")
    assert messages.JSONMessageSerializer is json_serializer.JSONMessageSerializer
    assert messages.MessageSerializer is json_serializer.MessageSerializer
    assert messages.DEFAULT_MAX_SIZE == json_serializer.DEFAULT_MAX_SIZE
    assert registry.WireRegistry is wire_names.WireRegistry
    assert registry.register is wire_names.register
    assert registry.default_registry() is wire_names.default_registry()
    assert package.JSONMessageSerializer is json_serializer.JSONMessageSerializer


def test_the_default_registry_built_by_the_new_modules_round_trips() -> None:
    from trio_pipe.bus.messages import BusJobRequestMessage

    ser = json_serializer.JSONMessageSerializer(registry=wire_names.default_registry())
    msg = BusJobRequestMessage(source="a", target="b", job_id="j", payload={"x": 1.5e-5})
    back = ser.deserialize(ser.serialize(msg))
    assert back == msg
    assert b'"x":1.5e-05' in ser.serialize(msg)
