"""Pure RTVI translation (spec A.3, A.4; the message-level half of A.7 checks 6-18, 48)."""

from __future__ import annotations

from typing import Any

import pytest

from trio_pipe.bus.ui import (
    BusUICommandMessage,
    BusUIEventMessage,
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.rtvi import models
from trio_pipe.rtvi.frames import (
    RTVIUICancelJobGroupFrame,
    RTVIUICommandFrame,
    RTVIUIEventFrame,
    RTVIUIJobGroupFrame,
    RTVIUISnapshotFrame,
)
from trio_pipe.rtvi.translate import (
    ClientReady,
    DisconnectBot,
    Rejected,
    UIClientMessage,
    client_version_error,
    envelope_for_carrier,
    envelope_for_frame,
    frame_for_carrier,
    read_client_message,
)


def rtvi(type_: str, data: Any = None, msg_id: str = "m1") -> dict[str, Any]:
    message: dict[str, Any] = {"label": "rtvi-ai", "type": type_, "id": msg_id}
    if data is not None:
        message["data"] = data
    return message


# --- inbound ------------------------------------------------------------------------------


def test_the_reference_ui_event_becomes_one_bus_event_and_a_frame() -> None:
    result = read_client_message(
        rtvi("ui-event", {"event": "nav_click", "payload": {"view": "home"}})
    )
    assert isinstance(result, UIClientMessage)
    assert (result.event_name, result.payload, result.msg_id) == (
        "nav_click",
        {"view": "home"},
        "m1",
    )
    frame = result.frame
    assert isinstance(frame, RTVIUIEventFrame)
    assert (frame.msg_id, frame.event, frame.payload) == ("m1", "nav_click", {"view": "home"})


def test_a_ui_event_without_payload_has_payload_none() -> None:
    result = read_client_message(rtvi("ui-event", {"event": "ping"}))
    assert isinstance(result, UIClientMessage)
    assert result.payload is None


def test_a_ui_event_keeps_any_json_payload_including_nulls() -> None:
    result = read_client_message(rtvi("ui-event", {"event": "e", "payload": [None, {"a": None}]}))
    assert isinstance(result, UIClientMessage)
    assert result.payload == [None, {"a": None}]


SNAPSHOT = {
    "root": {
        "ref": "e1",
        "role": "main",
        "name": None,
        "x-extra": {"keep": None},
        "dropped-extra": None,
        "children": [
            {"ref": "e2", "role": "heading", "name": "Home", "level": 1, "value": None},
            {"ref": "e3", "role": "grid", "colcount": 3.0, "rowcount": 2, "state": ["focused"]},
        ],
    },
    "captured_at": 1_700_000_000_000,
    "selection": {"ref": "e2", "text": "Home", "start_offset": None, "vendor": 1},
    "client": "web",
}

# What Pipecat 1.14 republishes for SNAPSHOT (A11ySnapshot.model_dump(exclude_none=True)).
SNAPSHOT_DUMP = {
    "root": {
        "ref": "e1",
        "role": "main",
        "children": [
            {"ref": "e2", "role": "heading", "name": "Home", "level": 1},
            {"ref": "e3", "role": "grid", "state": ["focused"], "colcount": 3, "rowcount": 2},
        ],
        "x-extra": {"keep": None},
    },
    "captured_at": 1_700_000_000_000,
    "selection": {"ref": "e2", "text": "Home", "vendor": 1},
    "client": "web",
}


def test_a_snapshot_becomes_the_reserved_event_without_nulls_and_keeps_extra_keys() -> None:
    result = read_client_message(rtvi("ui-snapshot", {"tree": SNAPSHOT}))
    assert isinstance(result, UIClientMessage)
    assert result.event_name == "__ui_snapshot"
    assert result.payload == SNAPSHOT_DUMP
    assert isinstance(result.frame, RTVIUISnapshotFrame)
    assert result.frame.tree == SNAPSHOT_DUMP


def test_a_cancel_request_becomes_the_reserved_event_with_a_reason_key() -> None:
    result = read_client_message(rtvi("ui-cancel-job-group", {"job_id": "t-1"}))
    assert isinstance(result, UIClientMessage)
    assert result.event_name == "__cancel_job_group"
    assert result.payload == {"job_id": "t-1", "reason": None}
    assert isinstance(result.frame, RTVIUICancelJobGroupFrame)
    assert (result.frame.job_id, result.frame.reason) == ("t-1", None)
    with_reason = read_client_message(rtvi("ui-cancel-job-group", {"job_id": "t", "reason": "r"}))
    assert isinstance(with_reason, UIClientMessage)
    assert with_reason.payload == {"job_id": "t", "reason": "r"}


@pytest.mark.parametrize(
    "message",
    [
        {"label": "other", "type": "ui-event", "id": "m1", "data": {"event": "x"}},
        {"type": "ui-event", "id": "m1", "data": {"event": "x"}},
        "ui-event",
        ["rtvi-ai"],
        None,
    ],
)
def test_a_message_that_is_not_rtvi_is_dropped_without_reply(message: Any) -> None:
    result = read_client_message(message)
    assert isinstance(result, Rejected)
    assert result.reply is None


@pytest.mark.parametrize(
    "message",
    [
        {"label": "rtvi-ai", "type": "ui-event", "data": {"event": "x"}},
        {"label": "rtvi-ai", "id": "m1", "data": {"event": "x"}},
        {"label": "rtvi-ai", "type": "ui-event", "id": 5, "data": {"event": "x"}},
        {"label": "rtvi-ai", "type": "ui-event", "id": "m1", "data": ["x"]},
    ],
)
def test_a_malformed_envelope_gets_one_non_fatal_error(message: dict[str, Any]) -> None:
    result = read_client_message(message)
    assert isinstance(result, Rejected)
    assert result.reply is not None
    assert result.reply["label"] == "rtvi-ai"
    assert result.reply["type"] == "error"
    assert "id" not in result.reply
    assert result.reply["data"]["fatal"] is False
    assert isinstance(result.reply["data"]["error"], str)


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("ui-event", {}),
        ("ui-event", None),
        ("ui-event", {"event": 5}),
        ("ui-snapshot", {}),
        ("ui-snapshot", {"tree": {"captured_at": 1}}),
        ("ui-snapshot", {"tree": {"root": {"ref": "e1"}, "captured_at": 1}}),
        ("ui-snapshot", {"tree": {"root": {"ref": "e1", "role": "r"}}}),
        (
            "ui-snapshot",
            {"tree": {"root": {"ref": "e1", "role": "r", "level": "2"}, "captured_at": 1}},
        ),
        (
            "ui-snapshot",
            {"tree": {"root": {"ref": "e", "role": "r", "level": True}, "captured_at": 1}},
        ),
        (
            "ui-snapshot",
            {"tree": {"root": {"ref": "e", "role": "r", "children": {}}, "captured_at": 1}},
        ),
        (
            "ui-snapshot",
            {
                "tree": {
                    "root": {"ref": "e", "role": "r"},
                    "captured_at": 1,
                    "selection": {"ref": "e"},
                }
            },
        ),
        ("ui-snapshot", {"tree": "junk"}),
        ("ui-cancel-job-group", {}),
        ("ui-cancel-job-group", {"job_id": 1}),
        ("ui-cancel-job-group", {"job_id": "j", "reason": 3}),
    ],
)
def test_invalid_data_for_a_known_type_gets_an_error_response_with_the_id(
    type_: str, data: Any
) -> None:
    result = read_client_message(rtvi(type_, data, msg_id="c-9"))
    assert isinstance(result, Rejected)
    assert result.reply is not None
    assert result.reply["type"] == "error-response"
    assert result.reply["id"] == "c-9"
    assert isinstance(result.reply["data"]["error"], str)


def test_an_unknown_type_is_unsupported() -> None:
    result = read_client_message(rtvi("ui-bogus", {"x": 1}, msg_id="b1"))
    assert isinstance(result, Rejected)
    assert result.reply == {
        "label": "rtvi-ai",
        "type": "error-response",
        "id": "b1",
        "data": {"error": "Unsupported type ui-bogus"},
    }


def test_too_deep_a_tree_is_refused_not_walked() -> None:
    node: dict[str, Any] = {"ref": "e", "role": "r"}
    for _ in range(5000):
        node = {"ref": "e", "role": "r", "children": [node]}
    result = read_client_message(rtvi("ui-snapshot", {"tree": {"root": node, "captured_at": 1}}))
    assert isinstance(result, Rejected)
    assert result.reply is not None and result.reply["type"] == "error-response"


@pytest.mark.parametrize("event", ["__ui_snapshot", "__cancel_job_group", "__anything"])
def test_a_client_cannot_use_a_reserved_event_name(event: str) -> None:
    result = read_client_message(rtvi("ui-event", {"event": event, "payload": {"root": "junk"}}))
    assert isinstance(result, Rejected)
    assert result.reply is None


def test_client_ready_and_disconnect() -> None:
    ready = read_client_message(
        rtvi("client-ready", {"version": "2.0.0", "about": {"library": "js"}}, msg_id="c1")
    )
    assert ready == ClientReady("c1", "2.0.0", {"library": "js"})
    assert read_client_message(rtvi("client-ready", msg_id="c2")) == ClientReady("c2", None, None)
    assert read_client_message(rtvi("disconnect-bot", msg_id="d")) == DisconnectBot("d")


@pytest.mark.parametrize(
    ("version", "parts", "warns"),
    [
        ("2.2.0", [2, 2, 0], False),
        ("2.0.1", [2, 0, 1], False),
        ("1.0.0", [1, 0, 0], False),
        ("3.0.0", [3, 0, 0], True),
        ("2.0", None, True),
        ("abc", None, True),
        (None, None, True),
    ],
)
def test_client_version_check(version: str | None, parts: list[int] | None, warns: bool) -> None:
    got, warning = client_version_error(version)
    assert got == parts
    assert (warning is not None) == warns


# --- outbound -----------------------------------------------------------------------------


def test_a_toast_command_reaches_the_client_as_the_reference_dict() -> None:
    carrier = BusUICommandMessage(source="ui", command_name="toast", payload={"title": "Navigated"})
    assert envelope_for_carrier(carrier) == {
        "label": "rtvi-ai",
        "type": "ui-command",
        "data": {"command": "toast", "payload": {"title": "Navigated"}},
    }
    frame = frame_for_carrier(carrier)
    assert isinstance(frame, RTVIUICommandFrame)
    assert (frame.command, frame.payload) == ("toast", {"title": "Navigated"})


def test_command_payload_nulls_are_kept_and_a_missing_payload_has_no_key() -> None:
    full = BusUICommandMessage(
        source="ui",
        command_name="toast",
        payload=models.unstructure_payload(models.Toast(title="x")),
    )
    envelope = envelope_for_carrier(full)
    assert envelope is not None
    assert envelope["data"]["payload"] == {
        "title": "x",
        "subtitle": None,
        "description": None,
        "image_url": None,
        "duration_ms": None,
    }
    bare = envelope_for_carrier(BusUICommandMessage(source="ui", command_name="ping"))
    assert bare == {"label": "rtvi-ai", "type": "ui-command", "data": {"command": "ping"}}


def test_group_started_without_label_or_workers() -> None:
    carrier = BusUIJobGroupStartedMessage(source="ui", job_id="j", at=5)
    envelope = envelope_for_carrier(carrier)
    assert envelope == {
        "label": "rtvi-ai",
        "type": "ui-job-group",
        "data": {
            "kind": "group_started",
            "job_id": "j",
            "workers": [],
            "cancellable": True,
            "at": 5,
        },
    }
    assert isinstance(frame_for_carrier(carrier), RTVIUIJobGroupFrame)


def test_the_reference_job_group_envelopes() -> None:
    started = BusUIJobGroupStartedMessage(
        source="ui",
        job_id="5dcb",
        workers=["w1"],
        label="Research",
        cancellable=True,
        at=1795308692867,
    )
    update = BusUIJobUpdateMessage(
        source="ui", job_id="5dcb", worker_name="w1", data={"progress": 0.5}, at=1
    )
    done = BusUIJobCompletedMessage(
        source="ui",
        job_id="5dcb",
        worker_name="w1",
        status="completed",
        response={"result": "w1"},
        at=2,
    )
    cancelled = BusUIJobCompletedMessage(
        source="ui", job_id="5dcb", worker_name="slow", status="cancelled", at=3
    )
    closed = BusUIJobGroupCompletedMessage(source="ui", job_id="5dcb", at=4)
    datas = [envelope_for_carrier(m)["data"] for m in (started, update, done, cancelled, closed)]  # type: ignore[index]
    assert datas == [
        {
            "kind": "group_started",
            "job_id": "5dcb",
            "workers": ["w1"],
            "label": "Research",
            "cancellable": True,
            "at": 1795308692867,
        },
        {
            "kind": "job_update",
            "job_id": "5dcb",
            "worker_name": "w1",
            "data": {"progress": 0.5},
            "at": 1,
        },
        {
            "kind": "job_completed",
            "job_id": "5dcb",
            "worker_name": "w1",
            "status": "completed",
            "response": {"result": "w1"},
            "at": 2,
        },
        {
            "kind": "job_completed",
            "job_id": "5dcb",
            "worker_name": "slow",
            "status": "cancelled",
            "at": 3,
        },
        {"kind": "group_completed", "job_id": "5dcb", "at": 4},
    ]
    for message in (started, update, done, cancelled, closed):
        envelope = envelope_for_carrier(message)
        assert envelope is not None
        assert list(envelope) == ["label", "type", "data"]  # no id on server envelopes


def test_inbound_carriers_and_other_frames_translate_to_nothing() -> None:
    assert frame_for_carrier(BusUIEventMessage(source="pw", event_name="x")) is None
    assert envelope_for_carrier(BusUIEventMessage(source="pw", event_name="x")) is None
    assert envelope_for_frame(RTVIUIEventFrame(event="x")) is None
    assert envelope_for_frame(RTVIUIJobGroupFrame()) is None


def test_standard_command_payloads_dump_like_pipecat_models() -> None:
    dump = models.unstructure_payload
    assert dump(models.Navigate(view="home")) == {"view": "home", "params": None}
    assert dump(models.ScrollTo(ref="e1")) == {"ref": "e1", "target_id": None, "behavior": None}
    assert dump(models.Highlight(ref="e1")) == {"ref": "e1", "target_id": None, "duration_ms": None}
    assert dump(models.Focus(target_id="t")) == {"ref": None, "target_id": "t"}
    assert dump(models.Click(ref="e42")) == {"ref": "e42", "target_id": None}
    assert dump(models.SetInputValue("hi", ref="e7")) == {
        "value": "hi",
        "ref": "e7",
        "target_id": None,
        "replace": True,
    }
    assert dump(models.SelectText(ref="e1", start_offset=2)) == {
        "ref": "e1",
        "target_id": None,
        "start_offset": 2,
        "end_offset": None,
    }
    assert dump({"a": 1}) == {"a": 1}


def test_bot_ready_envelope_shape() -> None:
    envelope = models.bot_ready(
        "c1",
        about={"library": "pipecat-ai", "library_version": "1.14.0"},
        capabilities={"metrics": False, "audio_in": None},
    )
    assert envelope == {
        "label": "rtvi-ai",
        "type": "bot-ready",
        "id": "c1",
        "data": {
            "version": "2.2.0",
            "about": {"library": "pipecat-ai", "library_version": "1.14.0"},
            "capabilities": {"metrics": False},
        },
    }
