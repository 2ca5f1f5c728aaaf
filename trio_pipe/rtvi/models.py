"""RTVI wire shapes the UI protocol uses: envelopes, job-group data, command payloads.

Everything here is plain data and pure functions; nothing sends anything.

Envelopes are dicts ready for a transport message: ``{"label": "rtvi-ai", "type": ...}``.
As in Pipecat (which dumps its pydantic models with ``exclude_none``), a ``None``-valued
field is left out at every model level, while ``null`` inside a free-form value
(``payload``, ``data``, ``response``) is kept. Server-to-client UI envelopes have no ``id``.

The standard command payloads (:class:`Toast`, :class:`Navigate`, ...) are attrs classes;
``cattrs`` unstructures them to the dicts Pipecat's models dump: every field, ``None``
included, in declaration order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

__all__ = [
    "LEGACY_SUPPORTED_MAJOR",
    "MESSAGE_LABEL",
    "PROTOCOL_VERSION",
    "Click",
    "Focus",
    "Highlight",
    "Navigate",
    "ScrollTo",
    "SelectText",
    "SetInputValue",
    "Toast",
    "UIJobCompletedData",
    "UIJobGroupCompletedData",
    "UIJobGroupData",
    "UIJobGroupStartedData",
    "UIJobUpdateData",
    "bot_ready",
    "dump_model",
    "error",
    "error_response",
    "ui_command",
    "ui_job_group",
    "unstructure_payload",
]

#: Every RTVI message carries this label; anything else is not for us.
MESSAGE_LABEL = "rtvi-ai"
#: The RTVI protocol version Pipecat 1.14 speaks (sent in ``bot-ready``).
PROTOCOL_VERSION = "2.2.0"
#: Clients of this major version are still served (Pipecat echoes their version back).
LEGACY_SUPPORTED_MAJOR = 1

_converter = cattrs.Converter()


def dump_model(model: Any) -> dict[str, Any]:
    """An attrs instance as a dict of its fields, leaving out those that are ``None``.

    Only the model's own level: field values are kept as they are, so ``null`` inside a
    free-form value survives (Pipecat's ``exclude_none`` does the same for ``Any`` fields).
    """
    return {k: v for k, v in attrs.asdict(model, recurse=False).items() if v is not None}


def unstructure_payload(payload: Any) -> Any:
    """A command payload as plain JSON data (attrs instances become full dicts)."""
    if attrs.has(type(payload)):
        return _converter.unstructure(payload)
    return payload


# --- envelopes --------------------------------------------------------------------------


def _envelope(type_: str, data: dict[str, Any], msg_id: str | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"label": MESSAGE_LABEL, "type": type_}
    if msg_id is not None:
        envelope["id"] = msg_id
    envelope["data"] = data
    return envelope


def error(message: str, *, fatal: bool = False) -> dict[str, Any]:
    """An ``error`` envelope: something went wrong that belongs to no client message."""
    return _envelope("error", {"error": message, "fatal": fatal})


def error_response(msg_id: str, message: str) -> dict[str, Any]:
    """An ``error-response`` envelope answering the client message ``msg_id``."""
    return _envelope("error-response", {"error": message}, msg_id)


def bot_ready(
    msg_id: str,
    *,
    version: str = PROTOCOL_VERSION,
    about: Mapping[str, Any] | None = None,
    capabilities: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``bot-ready`` envelope answering the client's ``client-ready`` ``msg_id``."""
    data: dict[str, Any] = {"version": version}
    if about is not None:
        data["about"] = dict(about)
    if capabilities is not None:
        data["capabilities"] = {k: v for k, v in capabilities.items() if v is not None}
    return _envelope("bot-ready", data, msg_id)


def ui_command(command: str, payload: Any = None) -> dict[str, Any]:
    """A ``ui-command`` envelope (no ``payload`` key when it is ``None``)."""
    data: dict[str, Any] = {"command": command}
    if payload is not None:
        data["payload"] = payload
    return _envelope("ui-command", data)


def ui_job_group(data: UIJobGroupData) -> dict[str, Any]:
    """A ``ui-job-group`` envelope for one lifecycle phase."""
    return _envelope("ui-job-group", dump_model(data))


# --- job-group data (the four ``kind``s) ---------------------------------------------------

_data = attrs.define(kw_only=True)


@_data
class UIJobGroupStartedData:
    """``kind: "group_started"``: the group was dispatched to ``workers``."""

    kind: str = attrs.field(default="group_started", init=False)
    job_id: str
    workers: list[str] | None = None
    label: str | None = None
    cancellable: bool = True
    at: int = 0


@_data
class UIJobUpdateData:
    """``kind: "job_update"``: progress from ``worker_name``, ``data`` verbatim."""

    kind: str = attrs.field(default="job_update", init=False)
    job_id: str
    worker_name: str
    data: Any = None
    at: int = 0


@_data
class UIJobCompletedData:
    """``kind: "job_completed"``: ``worker_name`` is done with ``status``."""

    kind: str = attrs.field(default="job_completed", init=False)
    job_id: str
    worker_name: str
    status: str
    response: Any = None
    at: int = 0


@_data
class UIJobGroupCompletedData:
    """``kind: "group_completed"``: the group is over."""

    kind: str = attrs.field(default="group_completed", init=False)
    job_id: str
    at: int = 0


UIJobGroupData = (
    UIJobGroupStartedData | UIJobUpdateData | UIJobCompletedData | UIJobGroupCompletedData
)


# --- standard command payloads (the client's standard handlers know these) ------------------


@attrs.define
class Toast:
    """A transient notification: ``send_command("toast", Toast(title=...))``."""

    title: str
    subtitle: str | None = None
    description: str | None = None
    image_url: str | None = None
    duration_ms: int | None = None


@attrs.define
class Navigate:
    """Go to an app-defined view."""

    view: str
    params: dict[str, Any] | None = None


@attrs.define
class ScrollTo:
    """Scroll an element into view (by snapshot ``ref``, else ``target_id``)."""

    ref: str | None = None
    target_id: str | None = None
    behavior: str | None = None


@attrs.define
class Highlight:
    """Briefly emphasize an element."""

    ref: str | None = None
    target_id: str | None = None
    duration_ms: int | None = None


@attrs.define
class Focus:
    """Move input focus to an element."""

    ref: str | None = None
    target_id: str | None = None


@attrs.define
class Click:
    """Click an element (the client's handler ignores disabled ones)."""

    ref: str | None = None
    target_id: str | None = None


@attrs.define
class SetInputValue:
    """Write ``value`` into a text input (``replace=False`` appends)."""

    value: str = ""
    ref: str | None = None
    target_id: str | None = None
    replace: bool = True


@attrs.define
class SelectText:
    """Select an element's text, or the ``start_offset``..``end_offset`` range of it."""

    ref: str | None = None
    target_id: str | None = None
    start_offset: int | None = None
    end_offset: int | None = None
