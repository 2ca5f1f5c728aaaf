"""Frames: the units of data and control that flow through a pipeline.

Three kinds, as in Pipecat:

* :class:`SystemFrame`: handled at once, never discarded by an interruption;
* :class:`DataFrame` and :class:`ControlFrame`: handled in order, discarded by an
  interruption unless ``interruptible`` is False.

Frames are mutable ``attrs`` classes (serializers and transports overwrite ``id``,
``name``, ``pts``...). Field order matches Pipecat's dataclasses, because the JSON bus
wire format writes fields in declaration order. ``id``, ``name`` and the other
``Frame`` fields are set after construction, never passed to the constructor.

Frames are not slotted: audio frames mix :class:`AudioRawFrame` into a frame kind, and two
slotted bases with fields cannot be combined.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, TypeVar, dataclass_transform

import attrs

from trio_pipe.ids import next_id, next_name

__all__ = [
    "AudioRawFrame",
    "BotSpeakingFrame",
    "BotStartedSpeakingFrame",
    "BotStoppedSpeakingFrame",
    "CancelFrame",
    "CancelTaskFrame",
    "CancelWorkerFrame",
    "ClientConnectedFrame",
    "ControlFrame",
    "DataFrame",
    "EndFrame",
    "EndTaskFrame",
    "EndWorkerFrame",
    "ErrorFrame",
    "FilterControlFrame",
    "Frame",
    "HeartbeatFrame",
    "InputAudioRawFrame",
    "InputTransportMessageFrame",
    "InterimTranscriptionFrame",
    "InterruptionFrame",
    "InterruptionWorkerFrame",
    "OutputAudioRawFrame",
    "OutputTransportMessageFrame",
    "OutputTransportMessageUrgentFrame",
    "OutputTransportReadyFrame",
    "StartFrame",
    "SystemFrame",
    "TTSAudioRawFrame",
    "TTSStoppedFrame",
    "TextFrame",
    "TranscriptionFrame",
    "UserSpeakingFrame",
    "UserStartedSpeakingFrame",
    "UserStoppedSpeakingFrame",
    "VADUserStartedSpeakingFrame",
    "VADUserStoppedSpeakingFrame",
    "WorkerFrame",
    "WorkerSystemFrame",
]

_C = TypeVar("_C", bound=type)


# A function (not an alias of attrs.define(...)) so that type checkers see the fields.
@dataclass_transform(field_specifiers=(attrs.field,))
def _frame(cls: _C) -> _C:
    return attrs.define(slots=False, eq=True)(cls)


@_frame
class Frame:
    """Base of every frame.

    ``id`` comes from the process-wide counter shared with bus messages; ``name`` is
    ``"<ClassName>#<k>"``. ``interruptible`` starts as the class's
    ``default_interruptible``.
    """

    default_interruptible: ClassVar[bool] = True

    id: int = attrs.field(init=False)
    name: str = attrs.field(init=False)
    pts: int | None = attrs.field(init=False, default=None)
    broadcast_sibling_id: int | None = attrs.field(init=False, default=None)
    metadata: dict[str, Any] = attrs.field(init=False, factory=dict)
    transport_source: str | None = attrs.field(init=False, default=None)
    transport_destination: str | None = attrs.field(init=False, default=None)
    interruptible: bool = attrs.field(init=False, default=True)

    def __attrs_post_init__(self) -> None:
        self.id = next_id()
        self.name = next_name(type(self))
        self.interruptible = self.default_interruptible
        # Mixins such as AudioRawFrame come after Frame in the MRO of audio frames.
        mixin_init = getattr(super(), "__attrs_post_init__", None)
        if mixin_init is not None:
            mixin_init()

    def __str__(self) -> str:
        return self.name


@_frame
class SystemFrame(Frame):
    """Handled at once, ahead of queued data; never discarded by an interruption."""


@_frame
class DataFrame(Frame):
    """Data, handled in order; discarded by an interruption when interruptible."""


@_frame
class ControlFrame(Frame):
    """Control, handled in order with data; discarded by an interruption when interruptible."""


@_frame
class AudioRawFrame:
    """Mixin: a chunk of signed 16-bit little-endian PCM, channels interleaved.

    ``num_frames`` is derived from the audio length at construction. A sample rate or a
    channel count below 1 raises ``ValueError`` (Pipecat divides by zero instead).
    """

    audio: bytes
    sample_rate: int
    num_channels: int
    num_frames: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self.num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {self.num_channels}")
        if self.sample_rate < 1:
            raise ValueError(f"sample_rate must be >= 1, got {self.sample_rate}")
        self.num_frames = len(self.audio) // (2 * self.num_channels)


# --- system frames ---------------------------------------------------------------------


@_frame
class StartFrame(SystemFrame):
    """First frame through a pipeline; carries the session's sample rates."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


@_frame
class CancelFrame(SystemFrame):
    """Stop the pipeline now, without draining."""

    reason: Any | None = None


@_frame
class InterruptionFrame(SystemFrame):
    """Interrupt: cancel the interruptible data in progress and drop queued interruptible frames."""


# --- speaking and turns (system frames: they must overtake queued audio) ------------------


@_frame
class UserStartedSpeakingFrame(SystemFrame):
    """The user's turn started (decided by a turn stage, usually from VAD)."""


@_frame
class UserStoppedSpeakingFrame(SystemFrame):
    """The user's turn ended: what they said can be answered now."""


@_frame
class UserSpeakingFrame(SystemFrame):
    """The user is still speaking (sent at most every ``speech_activity_period``)."""


@_frame
class VADUserStartedSpeakingFrame(SystemFrame):
    """Voice activity detection confirmed speech.

    ``start_secs``: the speech that had to be heard before confirming it;
    ``timestamp``: wall-clock time (``time.time()``) of the decision.
    """

    start_secs: float = 0.0
    timestamp: float = attrs.field(factory=time.time)


@_frame
class VADUserStoppedSpeakingFrame(SystemFrame):
    """Voice activity detection confirmed the end of speech.

    ``stop_secs``: the silence that had to be heard before confirming it;
    ``timestamp``: wall-clock time (``time.time()``) of the decision.
    """

    stop_secs: float = 0.0
    timestamp: float = attrs.field(factory=time.time)


@_frame
class BotStartedSpeakingFrame(SystemFrame):
    """The output transport started playing bot audio (sent both ways)."""


@_frame
class BotStoppedSpeakingFrame(SystemFrame):
    """The output transport finished playing bot audio, or it was interrupted (both ways)."""


@_frame
class BotSpeakingFrame(SystemFrame):
    """The bot is still speaking (sent both ways, at most every 200 ms of playback)."""


@_frame
class ErrorFrame(SystemFrame):
    """An error, pushed upstream. ``fatal`` errors cancel the pipeline task."""

    error: str
    fatal: bool = False
    processor: Any | None = None
    exception: BaseException | None = None


@_frame
class InputAudioRawFrame(SystemFrame, AudioRawFrame):
    """Audio received from the transport's peer."""


@_frame
class InputTransportMessageFrame(SystemFrame):
    """A (JSON) message received from the transport's peer."""

    message: Any


@_frame
class OutputTransportMessageUrgentFrame(SystemFrame):
    """A message for the peer that overtakes queued audio and messages."""

    message: Any


@_frame
class ClientConnectedFrame(SystemFrame):
    """A client connected to the transport."""


# --- data frames -----------------------------------------------------------------------


@_frame
class OutputAudioRawFrame(DataFrame, AudioRawFrame):
    """Audio to play to the transport's peer."""


@_frame
class TTSAudioRawFrame(OutputAudioRawFrame):
    """Audio produced by a TTS service."""

    context_id: str | None = None


@_frame
class TextFrame(DataFrame):
    """A chunk of text."""

    text: str
    skip_tts: bool | None = attrs.field(init=False, default=None)
    includes_inter_frame_spaces: bool = attrs.field(init=False, default=False)
    append_to_context: bool = attrs.field(init=False, default=True)


@_frame
class TranscriptionFrame(TextFrame):
    """Text transcribed from a user's speech."""

    user_id: str
    timestamp: str
    language: str | None = None
    result: Any | None = None
    finalized: bool = False


@_frame
class InterimTranscriptionFrame(TextFrame):
    """Partial text transcribed from a user's speech, before the final transcription."""

    user_id: str
    timestamp: str
    language: str | None = None
    result: Any | None = None


@_frame
class OutputTransportMessageFrame(DataFrame):
    """A message for the peer, sent in order with audio."""

    message: Any


# --- control frames --------------------------------------------------------------------


@_frame
class EndFrame(ControlFrame):
    """End the pipeline after everything queued before it has been processed."""

    default_interruptible: ClassVar[bool] = False

    reason: Any | None = None


@_frame
class OutputTransportReadyFrame(ControlFrame):
    """The output transport is ready to send."""


@_frame
class TTSStoppedFrame(ControlFrame):
    """A TTS service finished speaking."""

    context_id: str | None = None


@_frame
class HeartbeatFrame(ControlFrame):
    """Sent through the pipeline by its task to check that frames still get through.

    ``timestamp``: the task's clock (``trio.current_time()``) in nanoseconds when sent.
    """

    timestamp: int


@_frame
class FilterControlFrame(ControlFrame):
    """Base for audio-filter commands."""


# --- worker frames: leave a pipeline and act on its task ---------------------------------


@_frame
class WorkerFrame(ControlFrame):
    """Base of ordered frames that act on the pipeline task or worker."""


@_frame
class WorkerSystemFrame(SystemFrame):
    """Base of urgent frames that act on the pipeline task or worker."""


@_frame
class EndWorkerFrame(WorkerFrame):
    """Ask the task to end gracefully (queues an EndFrame)."""

    default_interruptible: ClassVar[bool] = False

    reason: Any | None = None


@_frame
class CancelWorkerFrame(WorkerSystemFrame):
    """Ask the task to cancel."""

    reason: Any | None = None


@_frame
class InterruptionWorkerFrame(WorkerSystemFrame):
    """Ask the task to interrupt the pipeline."""


EndTaskFrame = EndWorkerFrame
CancelTaskFrame = CancelWorkerFrame
