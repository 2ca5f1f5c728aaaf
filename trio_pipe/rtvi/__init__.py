"""RTVI, the client protocol of Pipecat's web and mobile SDKs: the part the UI protocol uses.

* ``models``: envelopes, job-group data, standard command payloads (pure data);
* ``frames``: the RTVI UI frames that travel in a pipeline;
* ``snapshot``: validation of a client's accessibility snapshot;
* ``translate``: client messages to bus events and frames, carriers to envelopes (pure);
* ``processor``: :class:`RTVIProcessor`, the pipeline stage that speaks RTVI to the client.
"""

from trio_pipe.rtvi.frames import (
    RTVIUICancelJobGroupFrame,
    RTVIUICommandFrame,
    RTVIUIEventFrame,
    RTVIUIJobGroupFrame,
    RTVIUISnapshotFrame,
)
from trio_pipe.rtvi.models import (
    MESSAGE_LABEL,
    PROTOCOL_VERSION,
    Click,
    Focus,
    Highlight,
    Navigate,
    ScrollTo,
    SelectText,
    SetInputValue,
    Toast,
)
from trio_pipe.rtvi.processor import RTVIProcessor

__all__ = [
    "MESSAGE_LABEL",
    "PROTOCOL_VERSION",
    "Click",
    "Focus",
    "Highlight",
    "Navigate",
    "RTVIProcessor",
    "RTVIUICancelJobGroupFrame",
    "RTVIUICommandFrame",
    "RTVIUIEventFrame",
    "RTVIUIJobGroupFrame",
    "RTVIUISnapshotFrame",
    "ScrollTo",
    "SelectText",
    "SetInputValue",
    "Toast",
]
