"""BaseInputTransport: frames received from a peer enter the pipeline here.

A subclass owns the connection and feeds each received message to
:meth:`BaseInputTransport.receive_message` (or decoded frames to :meth:`push_audio_frame`
and ``push_frame``). The base decodes with the transport's serializer and dispatches:
audio goes through the audio path (filter, passthrough), a transport message is broadcast
both ways, anything else is pushed downstream as is.

Resource handling
    The audio path is a memory channel bounded at ``AUDIO_IN_QUEUE_SIZE`` frames and one
    loop, a child of the processor's nursery with its own cancel scope, opened at start
    and closed at End/Cancel/cleanup (audio still queued is dropped). When the channel is
    full the new frame is dropped and counted (``dropped_audio_frames``), logged at most
    once a second: live audio that cannot be handled in time is worth less than keeping
    the receive loop going. Other frames never wait for audio, so their order relative
    to audio downstream is not guaranteed.

Error handling
    A message that fails to decode (the serializer raises, or reports a decode error and
    returns None) is logged, dropped and counted in ``dropped_messages``; the receive loop
    goes on. Messages that arrive before start are dropped and counted as well.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import trio

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    FilterControlFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    StartFrame,
    SystemFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.tracked import track
from trio_pipe.transports.half import TransportHalf
from trio_pipe.transports.params import TransportParams

__all__ = ["BaseInputTransport"]

logger = logging.getLogger(__name__)


class BaseInputTransport(TransportHalf):
    """The receiving half of a transport.

    Args:
        params: the transport's settings (a copy is kept; the caller's is never changed).
        serializer: decodes received messages (default: ``params.serializer`` if any).
        name: processor name.
    """

    #: Longest backlog of received audio frames before new ones are dropped.
    AUDIO_IN_QUEUE_SIZE: ClassVar[int] = 128

    def __init__(
        self,
        params: TransportParams,
        *,
        serializer: Any | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(params, serializer=serializer, name=name)
        self._sample_rate = 0
        self._started = False
        self._stopped = False
        self._filter_stopped = False
        self._audio_send: trio.MemorySendChannel[InputAudioRawFrame] | None = None
        self._audio_scope: trio.CancelScope | None = None
        self._last_drop_log = -float("inf")
        #: Received messages that produced no frame because they failed to decode.
        self.dropped_messages = 0
        #: Received audio frames dropped because the audio path was full.
        self.dropped_audio_frames = 0
        track(self, "input_transport")  # read by trio_pipe.metrics when active

    @property
    def sample_rate(self) -> int:
        """Input sample rate (0 before start): the param, else the StartFrame's."""
        return self._sample_rate

    # --- lifecycle (subclasses extend, calling super() first) --------------------------------

    async def start(self, frame: StartFrame) -> None:
        """Resolve the rate, start the filter, open the audio path, set the serializer up."""
        if self._started:
            return
        self._sample_rate = self._params.audio_in_sample_rate or frame.audio_in_sample_rate
        audio_filter = self._params.audio_in_filter
        if audio_filter is not None:
            await audio_filter.start(self._sample_rate)
        if self._params.audio_in_enabled:
            send, receive = trio.open_memory_channel[InputAudioRawFrame](self.AUDIO_IN_QUEUE_SIZE)
            self._audio_send = send
            self._audio_scope = trio.CancelScope()
            self.start_soon(self._audio_loop, receive, self._audio_scope)
        if self._serializer is not None:
            await self._serializer.setup(frame)
        self._started = True

    async def stop(self, frame: EndFrame) -> None:
        """Stop the audio path (queued audio is dropped); subclasses release the connection."""
        self._stop_audio()

    async def cancel(self, frame: CancelFrame) -> None:
        """As :meth:`stop`, for a CancelFrame."""
        self._stop_audio()

    async def cleanup(self) -> None:
        """Stop everything (idempotent) and stop the filter once."""
        self._stop_audio()
        await super().cleanup()
        audio_filter = self._params.audio_in_filter
        if audio_filter is not None and self._started and not self._filter_stopped:
            self._filter_stopped = True
            await audio_filter.stop()

    def _stop_audio(self) -> None:
        self._stopped = True
        if self._audio_scope is not None:
            self._audio_scope.cancel()
        if self._audio_send is not None:
            self._audio_send.close()
            self._audio_send = None

    # --- frames from the pipeline ----------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Route frames arriving from the upstream neighbour (StartFrame, End, Cancel...)."""
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)  # every processor starts before any data
            await self.start(frame)
        elif isinstance(frame, CancelFrame):
            await self.cancel(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, InputAudioRawFrame):
            await self.push_audio_frame(frame)
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame):
            await self.push_frame(frame, direction)
            await self.stop(frame)
        elif isinstance(frame, FilterControlFrame) and self._params.audio_in_filter is not None:
            await self._params.audio_in_filter.process_frame(frame)
        else:
            await self.push_frame(frame, direction)

    # --- frames from the peer -------------------------------------------------------------

    async def receive_message(self, message: str | bytes) -> None:
        """Decode one message from the peer and dispatch the frame it stands for."""
        serializer = self._serializer
        if serializer is None:
            return
        if not self._started or self._stopped:
            self._drop_message("the input is not running")
            return
        errors_before = getattr(serializer, "decode_errors", 0)
        try:
            frame = await serializer.deserialize(message)
        except Exception as e:
            self._drop_message(f"deserialize raised {e!r}")
            return
        if frame is None:
            if getattr(serializer, "decode_errors", 0) != errors_before:
                self.dropped_messages += 1  # the serializer logged why
            return
        await self.push_received_frame(frame)

    async def push_received_frame(self, frame: Frame) -> None:
        """Dispatch a frame received from the peer (audio, transport message, other)."""
        if isinstance(frame, InputAudioRawFrame):
            await self.push_audio_frame(frame)
        elif isinstance(frame, InputTransportMessageFrame):
            await self.broadcast_frame(InputTransportMessageFrame, message=frame.message)
        else:
            await self.push_frame(frame)

    async def push_audio_frame(self, frame: InputAudioRawFrame) -> None:
        """Queue received audio for the audio path (dropped when audio in is disabled)."""
        send = self._audio_send
        if send is None:
            return  # audio in disabled, or not running
        try:
            send.send_nowait(frame)
        except trio.WouldBlock:
            self.dropped_audio_frames += 1
            now = trio.current_time()
            if now - self._last_drop_log >= 1.0:
                self._last_drop_log = now
                logger.warning(
                    "%s: input audio path full (%d frames), dropped %d so far",
                    self,
                    self.AUDIO_IN_QUEUE_SIZE,
                    self.dropped_audio_frames,
                )
        except trio.ClosedResourceError:
            pass

    def _drop_message(self, why: str) -> None:
        self.dropped_messages += 1
        logger.warning(
            "%s: dropped a received message (%d so far): %s", self, self.dropped_messages, why
        )

    async def _audio_loop(
        self, receive: trio.MemoryReceiveChannel[InputAudioRawFrame], scope: trio.CancelScope
    ) -> None:
        audio_filter = self._params.audio_in_filter
        passthrough = self._params.audio_in_passthrough
        with scope, receive:
            async for frame in receive:
                if audio_filter is not None:
                    try:
                        frame.audio = await audio_filter.filter(frame.audio)
                    except Exception as e:
                        await self.push_error(f"audio filter failed: {e}", exception=e)
                        continue
                if not frame.audio:
                    continue  # the filter is buffering
                if passthrough:
                    await self.push_frame(frame)
