"""RTVIProcessor: the pipeline stage that speaks RTVI to the client.

A PipelineWorker that owns RTVI puts one first in its pipeline. The input transport
broadcasts every received transport message both ways, so the upstream copy reaches this
stage, which reads it (:func:`~trio_pipe.rtvi.translate.read_client_message`) and:

* ``client-ready``: remembers the client's id and version (a version problem is answered
  with an ``error-response``, as Pipecat does) and fires ``on_client_ready``; the
  PipelineWorker answers with :meth:`RTVIProcessor.set_bot_ready`;
* ``ui-event`` / ``ui-snapshot`` / ``ui-cancel-job-group``: pushes the matching RTVI frame
  downstream, then fires ``on_ui_message`` with the
  :class:`~trio_pipe.rtvi.translate.UIClientMessage` (the PipelineWorker republishes it on
  the bus);
* ``client-message``: pushes an ``RTVIClientMessageFrame`` downstream, then fires
  ``on_client_message`` with the :class:`~trio_pipe.rtvi.translate.ClientMessage`; the
  application answers with :meth:`RTVIProcessor.send_server_response` (or an
  ``RTVIServerResponseFrame`` that reaches this stage);
* ``send-text``: interrupts the bot (unless ``run_immediately`` is false), pushes an
  ``RTVISendTextFrame`` and a ``TextFrame`` downstream, and acknowledges with
  ``user-input``;
* ``disconnect-bot``: pushes an ``EndWorkerFrame`` (the task ends the pipeline);
* bad input: the ``error``/``error-response`` envelope, if any, goes back; nothing else.

Outbound, each ``RTVIUICommandFrame``/``RTVIUIJobGroupFrame`` that reaches this stage
becomes one ``OutputTransportMessageUrgentFrame`` with its envelope, pushed downstream
(urgent: it overtakes queued audio); the frame itself goes on too, so later processors can
watch. An ``ErrorFrame`` passing through is reported to the client as an ``error``
envelope, as in Pipecat; an ``RTVIServerMessageFrame`` becomes a ``server-message``.
Speaking frames, interruptions and transcriptions reaching this stage (the upstream copy
of a broadcast) are reported with the events Pipecat's ``RTVIObserver`` sends
(:mod:`trio_pipe.rtvi.messages`).

Resource handling
    Client messages are handled in arrival order by one *message loop*, a child of the
    processor's nursery started at the ``StartFrame`` and stopped at End/Cancel/cleanup,
    so a slow ``on_client_ready`` handler never holds the system lane (a ``CancelFrame``
    still gets through). ``on_client_ready`` and ``on_ui_message`` handlers are awaited in
    that loop, in order (they are not started as separate tasks): that is what keeps
    republished events in the client's order. The loop's queue is bounded at
    :attr:`RTVIProcessor.MESSAGE_QUEUE_SIZE`; a client that floods past it has its
    messages dropped and counted (``dropped_messages``).

Error handling
    Rejected messages are logged and counted in ``rejected_messages``; a handler that
    raises is logged and counted (``event_handler_errors``); the loop goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import metadata
from typing import Any, ClassVar

import trio

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    InputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TextFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.rtvi import messages, models
from trio_pipe.rtvi.frames import (
    RTVIClientMessageFrame,
    RTVISendTextFrame,
    RTVIServerMessageFrame,
    RTVIServerResponseFrame,
    RTVIUICommandFrame,
    RTVIUIJobGroupFrame,
)
from trio_pipe.rtvi.translate import (
    ClientMessage,
    ClientReady,
    DisconnectBot,
    Rejected,
    SendText,
    UIClientMessage,
    client_version_error,
    envelope_for_frame,
    read_client_message,
)

__all__ = ["RTVIProcessor"]

logger = logging.getLogger(__name__)


def _library_version() -> str:
    try:
        return metadata.version("trio-pipe")
    except metadata.PackageNotFoundError:
        return "unknown"


class RTVIProcessor(FrameProcessor):
    """Reads RTVI client messages, answers the handshake, sends UI envelopes.

    Events: ``on_bot_started(rtvi)``, ``on_client_ready(rtvi)``,
    ``on_client_message(rtvi, message: ClientMessage)``,
    ``on_ui_message(rtvi, message: UIClientMessage)``; the last three are awaited in
    order by the message loop.

    Args:
        capabilities: the ``capabilities`` object sent in ``bot-ready`` (``None``-valued
            keys left out). Default ``{"metrics": False}``, what Pipecat sends for a
            pipeline that reports no metrics.
        vad_events: also send ``vad-user-started/stopped-speaking`` (Pipecat's
            observer default: off).
        name: processor name.
    """

    #: Most client messages waiting for the message loop; later ones are dropped.
    MESSAGE_QUEUE_SIZE: ClassVar[int] = 256

    def __init__(
        self,
        *,
        capabilities: Mapping[str, Any] | None = None,
        vad_events: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._vad_events = vad_events
        self._capabilities = dict(capabilities) if capabilities is not None else {"metrics": False}
        self._client_ready = False
        self._client_ready_id = ""
        self._client_version = [0, 0, 0]
        self._bot_ready = False
        self._send: trio.MemorySendChannel[Any] | None = None
        self._loop_scope: trio.CancelScope | None = None
        self.rejected_messages = 0
        """Client messages refused as invalid (each logged; some answered with an error)."""
        self.dropped_messages = 0
        """Client messages dropped because the message loop was behind or stopped."""
        for event in ("on_bot_started", "on_client_ready", "on_client_message", "on_ui_message"):
            self._register_event_handler(event)

    @property
    def client_ready(self) -> bool:
        """True once the client sent ``client-ready``."""
        return self._client_ready

    @property
    def bot_ready(self) -> bool:
        """True once ``bot-ready`` was sent."""
        return self._bot_ready

    @property
    def client_version(self) -> list[int]:
        """The client's protocol version ``[major, minor, patch]`` (``[0, 0, 0]`` unknown)."""
        return self._client_version

    # --- sending ----------------------------------------------------------------------------

    async def push_transport_message(self, message: dict[str, Any]) -> None:
        """Send ``message`` to the client as an urgent transport message."""
        await self.push_frame(OutputTransportMessageUrgentFrame(message=message))

    async def set_bot_ready(self, about: Mapping[str, Any] | None = None) -> None:
        """Send ``bot-ready`` answering the client's ``client-ready``.

        ``about`` defaults to ``{"library": "trio-pipe", "library_version": ...}``. A
        legacy (1.x) client gets its own version echoed, as Pipecat does.
        """
        self._bot_ready = True
        if self._client_version[0] == models.LEGACY_SUPPORTED_MAJOR:
            version = ".".join(str(v) for v in self._client_version)
        else:
            version = models.PROTOCOL_VERSION
        if not about:
            about = {"library": "trio-pipe", "library_version": _library_version()}
        await self.push_transport_message(
            models.bot_ready(
                self._client_ready_id,
                version=version,
                about=about,
                capabilities=self._capabilities,
            )
        )

    async def send_error(self, error: str) -> None:
        """Send an ``error`` envelope (not fatal)."""
        await self.push_transport_message(models.error(error))

    async def send_error_response(self, msg: str | ClientMessage, error: str) -> None:
        """Send an ``error-response`` to a client message (its id, or the message)."""
        msg_id = msg if isinstance(msg, str) else msg.msg_id
        await self.push_transport_message(models.error_response(msg_id, error))

    async def send_server_response(self, client_msg: ClientMessage, data: Any = None) -> None:
        """Answer a ``client-message`` with a ``server-response`` carrying ``data``."""
        envelope = messages.server_response(client_msg.msg_id, client_msg.type, data)
        await self.push_transport_message(envelope)

    async def send_server_message(self, data: Any) -> None:
        """Send a ``server-message`` carrying ``data``."""
        await self.push_transport_message(messages.server_message(data))

    # --- frames ---------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Read client messages, translate outbound UI frames, pass the rest on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._start_loop()
            self._call_event_handler("on_bot_started")
        elif isinstance(frame, InputTransportMessageFrame):
            self._enqueue(frame.message)  # consumed here, as in Pipecat
        elif isinstance(frame, RTVIUICommandFrame | RTVIUIJobGroupFrame):
            envelope = envelope_for_frame(frame)
            if envelope is not None:
                await self.push_transport_message(envelope)
            await self.push_frame(frame, direction)
        elif isinstance(frame, ErrorFrame):
            await self.push_transport_message(models.error(frame.error, fatal=frame.fatal))
            await self.push_frame(frame, direction)
        elif isinstance(frame, RTVIServerResponseFrame):
            await self._send_response(frame)  # consumed here
        elif isinstance(frame, RTVIServerMessageFrame):
            await self.send_server_message(frame.data)  # consumed here
        elif isinstance(frame, CancelFrame):
            self._stop_loop()
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame):
            await self.push_frame(frame, direction)
            self._stop_loop()
        else:
            await self._report(frame, direction)
            await self.push_frame(frame, direction)

    async def _report(self, frame: Frame, direction: FrameDirection) -> None:
        # A broadcast's downstream copy would report the same event twice.
        if frame.broadcast_sibling_id is not None and direction is FrameDirection.DOWNSTREAM:
            return
        envelope = messages.envelope_for_observed(frame, vad_events=self._vad_events)
        if envelope is not None:
            await self.push_transport_message(envelope)

    async def _send_response(self, frame: RTVIServerResponseFrame) -> None:
        client = frame.client_msg
        if frame.error is not None:
            await self.push_transport_message(models.error_response(client.msg_id, frame.error))
        else:
            envelope = messages.server_response(client.msg_id, client.type, frame.data)
            await self.push_transport_message(envelope)

    async def cleanup(self) -> None:
        """Stop the message loop, then the lanes."""
        self._stop_loop()
        await super().cleanup()

    # --- the message loop -------------------------------------------------------------------

    def _start_loop(self) -> None:
        if self._send is not None or self._loop_scope is not None:
            return
        send, receive = trio.open_memory_channel[Any](self.MESSAGE_QUEUE_SIZE)
        self._send = send
        self._loop_scope = trio.CancelScope()
        self.start_soon(self._message_loop, receive, self._loop_scope)

    def _stop_loop(self) -> None:
        if self._loop_scope is not None:
            self._loop_scope.cancel()
        if self._send is not None:
            self._send.close()
            self._send = None

    def _enqueue(self, message: Any) -> None:
        send = self._send
        try:
            if send is None:
                raise trio.ClosedResourceError
            send.send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.dropped_messages += 1
            logger.warning(
                "%s: dropped a client message (%d so far): the message loop is %s",
                self,
                self.dropped_messages,
                "behind" if send is not None else "not running",
            )

    async def _message_loop(
        self, receive: trio.MemoryReceiveChannel[Any], scope: trio.CancelScope
    ) -> None:
        with scope, receive:
            async for message in receive:
                await self.handle_message(message)

    async def handle_message(self, message: Any) -> None:
        """Handle one client message (already JSON-decoded) now, in the caller's task."""
        result = read_client_message(message)
        if isinstance(result, UIClientMessage):
            await self.push_frame(result.frame)
            await self._run_event_handler("on_ui_message", result)
        elif isinstance(result, ClientReady):
            await self._handle_client_ready(result)
        elif isinstance(result, ClientMessage):
            frame = RTVIClientMessageFrame(msg_id=result.msg_id, type=result.type, data=result.data)
            await self.push_frame(frame)
            await self._run_event_handler("on_client_message", result)
        elif isinstance(result, SendText):
            await self._handle_send_text(result)
        elif isinstance(result, DisconnectBot):
            await self.push_frame(EndWorkerFrame())
        elif isinstance(result, Rejected):
            self.rejected_messages += 1
            logger.warning("%s: rejected a client message: %s", self, result.reason)
            if result.reply is not None:
                await self.push_transport_message(result.reply)

    async def _handle_send_text(self, message: SendText) -> None:
        if message.run_immediately:
            await self.broadcast_interruption()
        await self.push_frame(RTVISendTextFrame(msg_id=message.msg_id, text=message.content))
        text = TextFrame(text=message.content)
        text.skip_tts = not message.audio_response
        await self.push_frame(text)
        await self.push_transport_message(
            messages.user_input(message.content, msg_id=message.msg_id)
        )

    async def _handle_client_ready(self, message: ClientReady) -> None:
        version, warning = client_version_error(message.version)
        if version is not None:
            self._client_version = version
        if warning is not None:
            logger.warning("%s: %s", self, warning)
            await self.send_error_response(message.msg_id, warning)
        self._client_ready_id = message.msg_id
        self._client_ready = True
        await self._run_event_handler("on_client_ready")
