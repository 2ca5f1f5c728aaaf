"""RTVI UI frames: how the UI protocol travels inside a pipeline.

Inbound (client to server), pushed downstream by the RTVI processor next to the bus
event it republishes, so pipeline processors can watch the client:
:class:`RTVIUIEventFrame`, :class:`RTVIUISnapshotFrame`, :class:`RTVIUICancelJobGroupFrame`.

Outbound (server to client), queued by a PipelineWorker for each UI carrier; the RTVI
processor turns each into one urgent transport message:
:class:`RTVIUICommandFrame`, :class:`RTVIUIJobGroupFrame`.

Custom messages (Pipecat's names): :class:`RTVIClientMessageFrame` (a ``client-message``,
pushed downstream), answered by an :class:`RTVIServerResponseFrame` that reaches the RTVI
processor (``server-response``, or ``error-response`` when ``error`` is set);
:class:`RTVIServerMessageFrame` becomes a ``server-message``; :class:`RTVISendTextFrame`
marks text the client sent with ``send-text``.

All are system frames, as in Pipecat: they are never purged by an interruption.
"""

from __future__ import annotations

from typing import Any

import attrs

from trio_pipe.frames import SystemFrame
from trio_pipe.rtvi.models import UIJobGroupData

__all__ = [
    "RTVIClientMessageFrame",
    "RTVISendTextFrame",
    "RTVIServerMessageFrame",
    "RTVIServerResponseFrame",
    "RTVIUICancelJobGroupFrame",
    "RTVIUICommandFrame",
    "RTVIUIEventFrame",
    "RTVIUIJobGroupFrame",
    "RTVIUISnapshotFrame",
]

_frame = attrs.define(slots=False, eq=True)


@_frame
class RTVIUICommandFrame(SystemFrame):
    """A command for the client (becomes a ``ui-command`` envelope)."""

    command: str = ""
    payload: Any = None


@_frame
class RTVIUIJobGroupFrame(SystemFrame):
    """One job-group lifecycle phase for the client (becomes a ``ui-job-group`` envelope)."""

    data: UIJobGroupData | None = None


@_frame
class RTVIUIEventFrame(SystemFrame):
    """A ``ui-event`` from the client: ``msg_id`` is the client's message id."""

    msg_id: str = ""
    event: str = ""
    payload: Any = None


@_frame
class RTVIUISnapshotFrame(SystemFrame):
    """A ``ui-snapshot`` from the client; ``tree`` is the validated snapshot (a dict)."""

    msg_id: str = ""
    tree: Any = None


@_frame
class RTVIUICancelJobGroupFrame(SystemFrame):
    """A ``ui-cancel-job-group`` request from the client."""

    msg_id: str = ""
    job_id: str = ""
    reason: str | None = None


@_frame
class RTVIClientMessageFrame(SystemFrame):
    """A ``client-message``: ``type`` and ``data`` as the client sent them (``t``, ``d``)."""

    msg_id: str
    type: str
    data: Any | None = None


@_frame
class RTVIServerResponseFrame(SystemFrame):
    """The answer to ``client_msg``: ``data``, or ``error`` for an ``error-response``."""

    client_msg: RTVIClientMessageFrame
    data: Any | None = None
    error: str | None = None


@_frame
class RTVIServerMessageFrame(SystemFrame):
    """A ``server-message`` for the client carrying ``data``."""

    data: Any


@_frame
class RTVISendTextFrame(SystemFrame):
    """Text the client sent with ``send-text`` (followed downstream by a ``TextFrame``)."""

    msg_id: str
    text: str
    user_id: str | None = None
