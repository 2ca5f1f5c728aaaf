"""Translation between RTVI client messages, UI bus carriers and RTVI UI frames. Pure.

Inbound, :func:`read_client_message` sorts one transport message into what the RTVI
processor must do with it:

* :class:`UIClientMessage`: a valid ``ui-event``, ``ui-snapshot`` or ``ui-cancel-job-group``;
  it carries the bus event (name and payload) and the frame to push downstream;
* :class:`ClientReady`: the handshake (answered with ``bot-ready``);
* :class:`ClientMessage`: a custom ``client-message`` (answered by the application);
* :class:`SendText`: ``send-text``, text for the pipeline;
* :class:`DisconnectBot`: the client asks the bot to end;
* :class:`Rejected`: bad input, with the envelope to send back (or none), never a bus event.

Outbound, :func:`frame_for_carrier` turns a command or job-group carrier into its RTVI
frame and :func:`envelope_for_frame` that frame into the client envelope
(:func:`envelope_for_carrier` does both).

Bad input, as in Pipecat: a message whose ``label`` is not ``rtvi-ai`` is dropped with
nothing sent back; a missing or non-string ``id`` or ``type`` (or ``data`` that is not an
object) gives an ``error`` envelope (``fatal: false``); invalid ``data`` for a known type
gives an ``error-response`` carrying the client's id; an unknown type gives
``error-response`` "Unsupported type <type>".

trio_pipe difference: a ``ui-event`` whose event name starts with ``__`` is rejected (no
reply), so a client cannot pass a snapshot around its schema as ``__ui_snapshot``, or a
cancel request as ``__cancel_job_group``; Pipecat republishes such events as they are.
"""

from __future__ import annotations

from typing import Any

import attrs

from trio_pipe.bus.ui import (
    UI_CANCEL_JOB_GROUP_EVENT_NAME,
    UI_SNAPSHOT_EVENT_NAME,
    BusUICommandMessage,
    BusUIDataMessage,
    BusUIJobCompletedMessage,
    BusUIJobGroupCompletedMessage,
    BusUIJobGroupStartedMessage,
    BusUIJobUpdateMessage,
)
from trio_pipe.frames import Frame
from trio_pipe.rtvi import models
from trio_pipe.rtvi.frames import (
    RTVIUICancelJobGroupFrame,
    RTVIUICommandFrame,
    RTVIUIEventFrame,
    RTVIUIJobGroupFrame,
    RTVIUISnapshotFrame,
)
from trio_pipe.rtvi.snapshot import SnapshotError, validate_snapshot

__all__ = [
    "RESERVED_PREFIX",
    "ClientMessage",
    "ClientReady",
    "DisconnectBot",
    "Rejected",
    "SendText",
    "UIClientMessage",
    "envelope_for_carrier",
    "envelope_for_frame",
    "frame_for_carrier",
    "read_client_message",
]

#: Event names a client may not use in a plain ``ui-event`` (reserved for the server).
RESERVED_PREFIX = "__"


@attrs.frozen
class UIClientMessage:
    """A valid client UI message: republish ``event_name``/``payload``, push ``frame``."""

    msg_id: str
    type: str
    event_name: str
    payload: Any
    frame: Frame


@attrs.frozen
class ClientReady:
    """``client-ready``: ``version`` (None if the client sent none) and ``about``."""

    msg_id: str
    version: str | None
    about: dict[str, Any] | None


@attrs.frozen
class ClientMessage:
    """``client-message``: the client's ``t`` as ``type``, its ``d`` as ``data``."""

    msg_id: str
    type: str
    data: Any = None


@attrs.frozen
class SendText:
    """``send-text``: ``content``, and its options (Pipecat's defaults: both True)."""

    msg_id: str
    content: str
    run_immediately: bool = True
    audio_response: bool = True


@attrs.frozen
class DisconnectBot:
    """``disconnect-bot``: the client asks the bot to end the session."""

    msg_id: str


@attrs.frozen
class Rejected:
    """Bad input: log ``reason``; send ``reply`` to the client if it is not None."""

    reason: str
    reply: dict[str, Any] | None = None


ClientMessageResult = (
    UIClientMessage | ClientReady | ClientMessage | SendText | DisconnectBot | Rejected
)


class _Invalid(ValueError):
    """Invalid ``data`` for a known message type."""


def _required_str(data: dict[str, Any], key: str) -> str:
    if key not in data:
        raise _Invalid(f"data.{key}: field required")
    value = data[key]
    if not isinstance(value, str):
        raise _Invalid(f"data.{key}: expected a string, got {type(value).__name__}")
    return value


def _ui_event(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    event = _required_str(data, "event")
    payload = data.get("payload")
    if event.startswith(RESERVED_PREFIX):
        return Rejected(f"ui-event {msg_id!r} uses the reserved event name {event!r}")
    frame = RTVIUIEventFrame(msg_id=msg_id, event=event, payload=payload)
    return UIClientMessage(msg_id, "ui-event", event, payload, frame)


def _ui_snapshot(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    if "tree" not in data:
        raise _Invalid("data.tree: field required")
    try:
        tree = validate_snapshot(data["tree"])
    except SnapshotError as e:
        raise _Invalid(f"data.{e}") from e
    frame = RTVIUISnapshotFrame(msg_id=msg_id, tree=tree)
    return UIClientMessage(msg_id, "ui-snapshot", UI_SNAPSHOT_EVENT_NAME, tree, frame)


def _ui_cancel_job_group(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    job_id = _required_str(data, "job_id")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _Invalid(f"data.reason: expected a string or null, got {type(reason).__name__}")
    frame = RTVIUICancelJobGroupFrame(msg_id=msg_id, job_id=job_id, reason=reason)
    payload = {"job_id": job_id, "reason": reason}
    return UIClientMessage(
        msg_id, "ui-cancel-job-group", UI_CANCEL_JOB_GROUP_EVENT_NAME, payload, frame
    )


def _client_ready(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    version = data.get("version")
    about = data.get("about")
    return ClientReady(
        msg_id,
        version if isinstance(version, str) else None,
        about if isinstance(about, dict) else None,
    )


def _client_message(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    return ClientMessage(msg_id, _required_str(data, "t"), data.get("d"))


def _send_text(msg_id: str, data: dict[str, Any]) -> ClientMessageResult:
    content = _required_str(data, "content")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise _Invalid("data.options: expected an object or null")
    flags = {}
    for key in ("run_immediately", "audio_response"):
        value = options.get(key, True)
        if not isinstance(value, bool):
            raise _Invalid(f"data.options.{key}: expected a boolean")
        flags[key] = value
    return SendText(msg_id, content, **flags)


_UI_READERS = {
    "ui-event": _ui_event,
    "ui-snapshot": _ui_snapshot,
    "ui-cancel-job-group": _ui_cancel_job_group,
    "client-message": _client_message,
    "send-text": _send_text,
}


def read_client_message(message: Any) -> ClientMessageResult:
    """Sort one received transport message (already JSON-decoded); never raises."""
    if not isinstance(message, dict) or message.get("label") != models.MESSAGE_LABEL:
        return Rejected("not an RTVI message")
    problems = [
        f"{key}: expected a string"
        for key in ("type", "id")
        if not isinstance(message.get(key), str)
    ]
    data = message.get("data")
    if data is not None and not isinstance(data, dict):
        problems.append("data: expected an object or null")
    if problems:
        text = "Invalid RTVI transport message: " + "; ".join(problems)
        return Rejected(text, models.error(text))
    type_, msg_id = message["type"], message["id"]
    data = data or {}
    try:
        if type_ in _UI_READERS:
            return _UI_READERS[type_](msg_id, data)
        if type_ == "client-ready":
            return _client_ready(msg_id, data)
        if type_ == "disconnect-bot":
            return DisconnectBot(msg_id)
    except _Invalid as e:
        text = f"Invalid message: {e}"
        return Rejected(text, models.error_response(msg_id, text))
    text = f"Unsupported type {type_}"
    return Rejected(text, models.error_response(msg_id, text))


def client_version_error(version: str | None) -> tuple[list[int] | None, str | None]:
    """Parse a client's protocol version: ``([major, minor, patch] or None, warning)``.

    The warning (Pipecat's wording) goes back to the client as an ``error-response``; the
    handshake goes on either way.
    """
    if not version:
        return None, "Client version unknown. Compatibility issues may occur."
    try:
        parts = [int(v) for v in version.split(".")]
        if len(parts) != 3:
            raise ValueError(version)
    except ValueError:
        return None, f"Invalid client version format ({version}). Compatibility issues may occur."
    major = parts[0]
    if major not in (int(models.PROTOCOL_VERSION.split(".")[0]), models.LEGACY_SUPPORTED_MAJOR):
        return parts, (
            f"RTVI version {version} is not compatible with server protocol "
            f"{models.PROTOCOL_VERSION}. Compatibility issues may occur."
        )
    return parts, None


# --- outbound ----------------------------------------------------------------------------


def frame_for_carrier(message: BusUIDataMessage) -> Frame | None:
    """The RTVI frame for an outbound carrier; None for inbound ones (events)."""
    data: models.UIJobGroupData
    if isinstance(message, BusUICommandMessage):
        return RTVIUICommandFrame(command=message.command_name, payload=message.payload)
    if isinstance(message, BusUIJobGroupStartedMessage):
        data = models.UIJobGroupStartedData(
            job_id=message.job_id,
            workers=list(message.workers or []),
            label=message.label,
            cancellable=message.cancellable,
            at=message.at,
        )
    elif isinstance(message, BusUIJobUpdateMessage):
        data = models.UIJobUpdateData(
            job_id=message.job_id, worker_name=message.worker_name, data=message.data, at=message.at
        )
    elif isinstance(message, BusUIJobCompletedMessage):
        data = models.UIJobCompletedData(
            job_id=message.job_id,
            worker_name=message.worker_name,
            status=message.status,
            response=message.response,
            at=message.at,
        )
    elif isinstance(message, BusUIJobGroupCompletedMessage):
        data = models.UIJobGroupCompletedData(job_id=message.job_id, at=message.at)
    else:
        return None
    return RTVIUIJobGroupFrame(data=data)


def envelope_for_frame(frame: Frame) -> dict[str, Any] | None:
    """The client envelope for an outbound RTVI UI frame; None for any other frame."""
    if isinstance(frame, RTVIUICommandFrame):
        return models.ui_command(frame.command, frame.payload)
    if isinstance(frame, RTVIUIJobGroupFrame) and frame.data is not None:
        return models.ui_job_group(frame.data)
    return None


def envelope_for_carrier(message: BusUIDataMessage) -> dict[str, Any] | None:
    """The client envelope an outbound carrier becomes; None for inbound ones."""
    frame = frame_for_carrier(message)
    return None if frame is None else envelope_for_frame(frame)
