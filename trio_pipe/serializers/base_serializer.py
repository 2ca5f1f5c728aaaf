"""FrameSerializer: turns frames into WebSocket payloads and payloads back into frames.

A ``str`` result is sent as a text message and ``bytes`` as a binary one; ``None`` means
"nothing to send". Deserializing never raises on bad input: the payload is dropped,
logged and counted on the serializer (``decode_errors``), so one bad message cannot end a
transport's receive loop. Serializing a frame that cannot be encoded (say a message that
is not JSON-serializable) likewise returns None and counts ``encode_errors``.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from trio_pipe.frames import (
    Frame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from trio_pipe.ratelimit import loud
from trio_pipe.tracked import track

__all__ = ["RTVI_MESSAGE_LABEL", "FrameSerializer", "FrameSerializerParams"]

logger = logging.getLogger(__name__)

RTVI_MESSAGE_LABEL = "rtvi-ai"


@attrs.define(kw_only=True)
class FrameSerializerParams:
    """Options shared by every serializer (Pipecat's ``FrameSerializer.InputParams``).

    ``ignore_rtvi_messages``: do not send output transport messages labelled ``rtvi-ai``
    (telephony peers have no use for them). ``resampler_clear_after_secs``: serializers
    that resample start a fresh resampler stream after this much silence (None: never).
    """

    ignore_rtvi_messages: bool = True
    resampler_clear_after_secs: float | None = 0.2


class FrameSerializer:
    """Base class: ``setup``, ``serialize`` and ``deserialize`` (all async, as in Pipecat).

    Subclasses implement :meth:`serialize` and :meth:`deserialize`, and call
    :meth:`_decode_failed` / :meth:`_encode_failed` instead of raising on bad data. Each
    failure is counted (``decode_errors``, ``encode_errors``); the first ten of each kind
    are logged, then one in a thousand (``trio_pipe.ratelimit``).
    """

    InputParams = FrameSerializerParams

    def __init__(self, params: FrameSerializerParams | None = None) -> None:
        self._params = params if params is not None else FrameSerializerParams()
        #: Payloads dropped because they could not be decoded.
        self.decode_errors = 0
        #: Frames dropped because they could not be encoded.
        self.encode_errors = 0
        track(self, "serializer")  # read by trio_pipe.metrics when active

    @property
    def params(self) -> FrameSerializerParams:
        """This serializer's options."""
        return self._params

    def should_ignore_frame(self, frame: Frame) -> bool:
        """True for an ``rtvi-ai`` output transport message when RTVI messages are ignored.

        A message that is not a dict is never ignored (Pipecat raises on it).
        """
        if not self._params.ignore_rtvi_messages:
            return False
        if not isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            return False
        message = frame.message
        return isinstance(message, dict) and message.get("label") == RTVI_MESSAGE_LABEL

    async def setup(self, start_frame: StartFrame) -> None:
        """Learn the session's settings from its StartFrame.

        Each transport half may call this; implementations must be idempotent.
        """

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """The payload to send for ``frame``, or None when there is nothing to send."""
        raise NotImplementedError

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """The frame a received payload stands for, or None (dropped, never raised)."""
        raise NotImplementedError

    def _decode_failed(self, reason: str, *args: Any) -> None:
        # Rate-limited like the proxy's drops: a client on the wrong protocol sends
        # nothing but bad payloads, and must not flood the log too.
        self.decode_errors += 1
        if not loud(self.decode_errors):
            return
        logger.warning(
            "%s: dropped an undecodable payload (%d so far): " + reason,
            type(self).__name__,
            self.decode_errors,
            *args,
        )

    def _encode_failed(self, frame: Frame, error: BaseException) -> None:
        self.encode_errors += 1
        if not loud(self.encode_errors):
            return
        logger.warning(
            "%s: cannot encode %s, dropped (%d so far): %r",
            type(self).__name__,
            frame,
            self.encode_errors,
            error,
        )
