"""RTVI envelopes for a voice session and the frames they report. Pure.

Pipecat 1.14 sends these from its ``RTVIObserver``, which watches every frame in the
pipeline; trio_pipe's :class:`~trio_pipe.rtvi.processor.RTVIProcessor` sends them for the
frames that reach it, which, first in the pipeline, is the upstream copy of every
broadcast frame (speaking frames, interruptions) and everything pushed upstream.

:func:`envelope_for_observed` maps a frame to its envelope (or None), with the defaults of
Pipecat's ``RTVIObserverParams``: user and bot speaking, ``bot-interrupted``,
``user-transcription`` and ``user-input`` on; the raw ``vad-user-*`` events off.
"""

from __future__ import annotations

import datetime
from typing import Any

from trio_pipe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from trio_pipe.rtvi.models import MESSAGE_LABEL

__all__ = [
    "bot_output",
    "envelope_for_observed",
    "server_message",
    "server_response",
    "user_input",
]

_BARE = {
    UserStartedSpeakingFrame: "user-started-speaking",
    UserStoppedSpeakingFrame: "user-stopped-speaking",
    BotStartedSpeakingFrame: "bot-started-speaking",
    BotStoppedSpeakingFrame: "bot-stopped-speaking",
    InterruptionFrame: "bot-interrupted",
}
_VAD = {
    VADUserStartedSpeakingFrame: "vad-user-started-speaking",
    VADUserStoppedSpeakingFrame: "vad-user-stopped-speaking",
}


def _message(type_: str, data: Any = None, msg_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"label": MESSAGE_LABEL, "type": type_}
    if msg_id is not None:
        out["id"] = msg_id
    if data is not None:
        out["data"] = data
    return out


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def server_response(msg_id: str, type_: str, data: Any = None) -> dict[str, Any]:
    """``server-response`` to the ``client-message`` ``msg_id`` of type ``type_``."""
    body: dict[str, Any] = {"t": type_}
    if data is not None:
        body["d"] = data
    return _message("server-response", body, msg_id)


def server_message(data: Any) -> dict[str, Any]:
    """``server-message`` carrying ``data`` (``null`` kept, as Pipecat does)."""
    return {"label": MESSAGE_LABEL, "type": "server-message", "data": data}


def user_input(text: str, *, msg_id: str | None = None, input_type: str = "chat") -> dict:
    """``user-input``: what the user typed (``chat``) or said, acknowledged."""
    data: dict[str, Any] = {
        "text": text,
        "input_type": input_type,
        "timestamp": _now_iso(),
        "final": True,
    }
    if msg_id is not None:
        data["msg_id"] = msg_id
    return _message("user-input", data)


def bot_output(text: str, *, spoken: bool = False, output_type: str = "sentence") -> dict:
    """``bot-output``: text the bot produced (``spoken``: it was, or will be, said)."""
    data = {
        "text": text,
        "output_type": output_type,
        "text_type": output_type,
        "aggregated_by": output_type,
        "spoken": spoken,
        "will_be_spoken": spoken,
        "spoken_status": "new",
    }
    return _message("bot-output", data)


def envelope_for_observed(frame: Frame, *, vad_events: bool = False) -> dict[str, Any] | None:
    """The envelope reporting ``frame`` to the client, or None."""
    cls = type(frame)
    if cls in _BARE:
        return _message(_BARE[cls])
    if vad_events and cls in _VAD:
        return _message(_VAD[cls])
    if isinstance(frame, TranscriptionFrame):
        return _message(
            "user-transcription",
            {
                "text": frame.text,
                "user_id": frame.user_id,
                "timestamp": frame.timestamp,
                "final": True,
            },
        )
    return None
