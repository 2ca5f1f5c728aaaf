"""UI carriers (spec ui-and-voice-testing A.2; A.7 checks 1-5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from trio_pipe.bus import ui
from trio_pipe.bus.messages import BusDataMessage
from trio_pipe.bus.ui import (
    UI_CANCEL_JOB_GROUP_EVENT_NAME,
    UI_SNAPSHOT_EVENT_NAME,
    BusUICommandMessage,
    BusUIDataMessage,
    BusUIEventMessage,
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.serializers import JSONMessageSerializer, default_registry

VECTORS = Path(__file__).parent.parent / "vectors" / "bus_json.jsonl"

# The defaults of A.2, field by field (id/name/source/target left out).
DEFAULTS: dict[type, dict[str, Any]] = {
    BusUIEventMessage: {"event_name": "", "payload": None},
    BusUICommandMessage: {"command_name": "", "payload": None},
    BusUIJobGroupStartedMessage: {
        "job_id": "",
        "workers": None,
        "label": None,
        "cancellable": True,
        "at": 0,
    },
    BusUIJobUpdateMessage: {"job_id": "", "worker_name": "", "data": None, "at": 0},
    BusUIJobCompletedMessage: {
        "job_id": "",
        "worker_name": "",
        "status": "",
        "response": None,
        "at": 0,
    },
    BusUIJobGroupCompletedMessage: {"job_id": "", "at": 0},
}
CARRIERS = list(DEFAULTS)


def own_fields(message: Any) -> dict[str, Any]:
    skip = {"id", "name", "source", "target"}
    return {
        a.name: getattr(message, a.name) for a in attrs.fields(type(message)) if a.name not in skip
    }


@pytest.mark.parametrize("cls", CARRIERS, ids=lambda c: c.__name__)
def test_constructs_from_source_alone_with_the_reference_defaults(cls: type) -> None:
    message = cls(source="ui")
    assert message.source == "ui"
    assert own_fields(message) == DEFAULTS[cls]
    assert list(own_fields(message)) == list(DEFAULTS[cls])  # Pipecat's field order


@pytest.mark.parametrize("cls", CARRIERS, ids=lambda c: c.__name__)
def test_every_carrier_is_a_ui_data_message_broadcast_by_default(cls: type) -> None:
    message = cls(source="ui")
    assert isinstance(message, BusUIDataMessage)
    assert isinstance(message, BusDataMessage)
    assert message.target is None
    assert own_fields(BusUIDataMessage(source="x")) == {}


SAMPLES = [
    BusUIEventMessage(source="voice", event_name="nav_click", payload={"view": "home"}),
    BusUICommandMessage(source="ui", command_name="toast", payload={"title": "x", "sub": None}),
    BusUIJobGroupStartedMessage(
        source="ui", job_id="j1", workers=["w1", "w2"], label="Research", cancellable=False, at=7
    ),
    BusUIJobUpdateMessage(source="ui", job_id="j1", worker_name="w1", data=[1, {"p": 0.5}], at=8),
    BusUIJobCompletedMessage(
        source="ui", job_id="j1", worker_name="w1", status="completed", response={"r": 1}, at=9
    ),
    BusUIJobGroupCompletedMessage(source="ui", target="voice", job_id="j1", at=10),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trips_through_the_json_bus_serializer(message: Any) -> None:
    serializer = JSONMessageSerializer()
    raw = serializer.serialize(message)
    data = json.loads(raw)["__data__"]
    assert ("target" in data) == (message.target is not None)
    back = serializer.deserialize(raw)
    assert type(back) is type(message)
    assert back == message  # id and name travel too
    assert serializer.serialize(back) == raw


def test_the_reference_example_is_written_as_pipecat_writes_it() -> None:
    message = BusUIEventMessage(source="root", event_name="nav_click", payload={"view": "home"})
    message.id, message.name = 0, "BusUIEventMessage#0"
    assert JSONMessageSerializer().serialize(message) == (
        b'{"__type__":"pipecat.bus.ui.messages.BusUIEventMessage","__data__":{"id":0,'
        b'"name":"BusUIEventMessage#0","source":"root","event_name":"nav_click",'
        b'"payload":{"view":"home"}}}'
    )


def _ui_vectors() -> list[dict[str, Any]]:
    lines = VECTORS.read_text().splitlines()
    return [v for v in map(json.loads, lines) if v["case"].startswith("ui_")]


@pytest.mark.parametrize("vector", _ui_vectors(), ids=lambda v: v["case"])
def test_pipecat_golden_fixtures_decode_to_the_same_fields_and_re_encode(vector: dict) -> None:
    serializer = JSONMessageSerializer()
    raw = vector["wire"].encode()
    wire = json.loads(raw)
    message = serializer.deserialize(raw)
    assert default_registry().wire_name_of(type(message)) == wire["__type__"]
    for key, value in wire["__data__"].items():
        assert getattr(message, key) == value, key
    assert serializer.serialize(message) == raw


def test_all_six_golden_fixtures_are_there() -> None:
    names = {json.loads(v["wire"])["__type__"].rsplit(".", 1)[1] for v in _ui_vectors()}
    assert names == {cls.__name__ for cls in CARRIERS}


def test_every_carrier_is_registered_under_pipecats_module() -> None:
    for cls in [BusUIDataMessage, *CARRIERS]:
        assert default_registry().wire_name_of(cls) == f"pipecat.bus.ui.messages.{cls.__name__}"


def test_reserved_event_names() -> None:
    assert UI_SNAPSHOT_EVENT_NAME == "__ui_snapshot"
    assert UI_CANCEL_JOB_GROUP_EVENT_NAME == "__cancel_job_group"


def test_now_ms_is_wall_clock_milliseconds_and_can_be_pinned() -> None:
    import time

    before = int(time.time() * 1000)
    assert before <= ui.now_ms() <= int(time.time() * 1000)
    with ui.pinned_clock(1_700_000_000_000):
        assert ui.now_ms() == 1_700_000_000_000
        with ui.pinned_clock(lambda: 5):
            assert ui.now_ms() == 5
        assert ui.now_ms() == 1_700_000_000_000
    assert ui.now_ms() >= before
