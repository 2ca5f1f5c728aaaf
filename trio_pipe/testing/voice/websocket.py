"""WebSocketAgentAdapter: any voice bot on a WebSocket, with a bring-your-own protocol.

The adapter owns the socket (``trio_pipe.ws.client``) and the rules every protocol shares; the
:class:`~trio_pipe.testing.voice.protocols.WebSocketProtocol` only says what audio looks
like on the wire.

Terminal states (each distinct, see ``errors``)
    silence: ``recv_audio`` raises ``TimeoutError`` at the deadline fixed when it was called
    (non-audio messages do not push it back). The peer closed the socket on purpose (close
    code 1000, 1001 or none): ``recv_audio`` returns an empty chunk, every time it is asked
    again. Any other close (1006 for a dropped TCP connection, 1011, ...) or a write that
    cannot complete: :class:`AgentConnectionLostError`. After the peer closed,
    ``send_audio`` raises :class:`AgentStreamEndedError`. ``close_code`` and
    ``close_reason`` say what happened.

Bad input
    A message the protocol cannot decode is logged, counted in ``decode_errors`` and
    skipped; the next message is read as usual.

Receiving
    One reader task reads the socket all the time, decodes each message as it arrives,
    stamps audio with its arrival time (so turn latency is true even when the user was
    still talking) and queues it for ``recv_audio``, up to ``message_queue_size`` chunks;
    when that is full it stops reading, and TCP pushes back on the bot. Events
    (``events``) are kept as they arrive, whether or not anyone reads audio.

Resources
    The socket is trio_pipe's client :class:`~trio_pipe.ws.base.MessageSocket`, whose
    write watchdog bounds every send by ``write_timeout``: a bot that stops reading
    cannot hold a ``send_audio`` forever (the connection is aborted,
    :class:`AgentConnectionLostError`). The socket's tasks and the reader live in
    nurseries entered by ``connect()`` and left by ``disconnect()`` in the same task
    (``async with adapter:`` does both). The reader never raises into them (it would
    cancel the caller's code): every failure becomes a terminal state. After
    ``disconnect()`` nothing of the adapter is running and the socket is closed.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import trio

from trio_pipe.testing.voice.adapter import VoiceAgentAdapter
from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, PCM16_SAMPLE_WIDTH_BYTES, AudioChunk
from trio_pipe.testing.voice.errors import (
    AdapterCapabilities,
    AgentConnectionLostError,
    AgentStreamEndedError,
    TransportNotConnectedError,
    UnsupportedCapabilityError,
)
from trio_pipe.testing.voice.protocols import (
    Encoded,
    Message,
    WebSocketProtocol,
    supports_interrupt,
)
from trio_pipe.ws.base import ConnectionClosed, MessageSocket, WriteTimeout
from trio_pipe.ws.client import ConnectError, open_client_socket

__all__ = ["CLEAN_CLOSE_CODES", "AgentConnectError", "WebSocketAgentAdapter"]

logger = logging.getLogger(__name__)

# Close codes that mean the peer ended the stream on purpose: normal, going away, and a
# close frame with no code (reported as 1005).
CLEAN_CLOSE_CODES = frozenset({1000, 1001, 1005})
_EVENTS_KEPT = 1000


# Refused, unreachable, timed out, or the handshake was rejected (``.status``).
AgentConnectError = ConnectError


def _messages(encoded: Encoded) -> tuple[Message, ...]:
    if encoded is None:
        return ()
    if isinstance(encoded, (str, bytes)):
        return (encoded,)
    return tuple(encoded)


class WebSocketAgentAdapter(VoiceAgentAdapter):
    """A voice bot at ``url`` that speaks ``protocol``.

    Keyword options: ``frame_ms`` (None: one message per ``send_audio``; 20: one per
    20 ms slice), ``realtime`` (pace slices at the speed of speech), ``trailing_silence``
    (seconds of zeros sent after each utterance so the bot's VAD hears it end),
    ``connect_timeout``, ``extra_headers`` (handshake headers), ``write_timeout``,
    ``disconnect_timeout`` (the close handshake), ``message_queue_size`` (audio chunks
    queued for ``recv_audio`` before the adapter stops reading the socket) and
    ``max_message_size``.

    Concurrent ``send_audio`` calls never interleave their frames (a lock); ``interrupt``
    does not wait for that lock. Non-audio messages the protocol turns into events are
    kept in ``events`` (the last 1000).
    """

    def __init__(
        self,
        url: str,
        protocol: WebSocketProtocol,
        *,
        frame_ms: int | None = None,
        realtime: bool = False,
        trailing_silence: float = 0.0,
        connect_timeout: float = 10.0,
        extra_headers: Mapping[str, str] | None = None,
        write_timeout: float = 10.0,
        disconnect_timeout: float = 2.0,
        message_queue_size: int = 256,
        max_message_size: int = 2**20,
    ) -> None:
        super().__init__()
        if frame_ms is not None and frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive or None, got {frame_ms}")
        self.url = url
        self.protocol = protocol
        self.frame_ms = frame_ms
        self.realtime = realtime
        self.trailing_silence = trailing_silence
        self.connect_timeout = connect_timeout
        self.extra_headers = dict(extra_headers or {})
        self.write_timeout = write_timeout
        self.disconnect_timeout = disconnect_timeout
        self.message_queue_size = message_queue_size
        self.max_message_size = max_message_size
        self.decode_errors = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=_EVENTS_KEPT)
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._sock: MessageSocket | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._ended_by: AgentStreamEndedError | None = None  # how the reader saw the end
        self._inbox: trio.MemoryReceiveChannel[tuple[float, AudioChunk]] | None = None
        self._send_lock = trio.Lock()

    @property
    def capabilities(self) -> AdapterCapabilities:  # type: ignore[override]
        """What this adapter can do, which follows its protocol."""
        return AdapterCapabilities(
            interruption=supports_interrupt(self.protocol),
            input_formats=list(getattr(self.protocol, "input_formats", ["pcm16/24000"])),
            output_formats=list(getattr(self.protocol, "output_formats", ["pcm16/24000"])),
        )

    def is_connected(self) -> bool:
        """True only while the socket is open."""
        return self._sock is not None and self._sock.is_open

    # -- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the socket, reset the protocol and send its handshake messages.

        Raises :class:`AgentConnectError` when the bot cannot be reached.
        """
        if self._stack is not None:
            raise RuntimeError(f"{type(self).__name__} is already connected")
        _call_hook(self.protocol, "reset")
        self.close_code = self.close_reason = None
        self._ended_by = None
        stack = contextlib.AsyncExitStack()
        self._sock = sock = await stack.enter_async_context(
            open_client_socket(
                self.url,
                headers=self.extra_headers,
                connect_timeout=self.connect_timeout,
                write_timeout=self.write_timeout,
                max_message_size=self.max_message_size,
            )
        )
        self._stack = stack
        send, self._inbox = trio.open_memory_channel[tuple[float, AudioChunk]](
            self.message_queue_size
        )
        nursery = await stack.enter_async_context(trio.open_nursery())
        # Leaving: stop the reader first (LIFO), then the socket closes.
        stack.callback(nursery.cancel_scope.cancel)
        nursery.start_soon(self._reader, sock, send)
        try:
            for message in _call_hook(self.protocol, "on_connect") or ():
                await self._send(message)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Send the protocol's goodbye (best effort) and close the socket. Idempotent."""
        stack, sock = self._stack, self._sock
        if stack is None or sock is None:
            return
        try:
            if sock.is_open:
                for message in _call_hook(self.protocol, "on_disconnect") or ():
                    await sock.send(message)
        except ConnectionClosed:
            pass  # the peer left first: nothing to say goodbye to
        finally:
            self._stack = None
            try:
                with trio.CancelScope(shield=True):
                    await sock.close(timeout=self.disconnect_timeout)
            finally:
                await stack.aclose()
                self._record_close(sock.close_reason)
                self._sock = None
                self._inbox = None

    # -- audio ----------------------------------------------------------------------------

    def _open_sock(self) -> MessageSocket:
        sock = self._sock
        if sock is None:
            raise TransportNotConnectedError(type(self).__name__)
        return sock

    def _record_close(self, closed: ConnectionClosed | None) -> None:
        if closed is not None and self.close_code is None:
            self.close_code, self.close_reason = closed.code, closed.reason or None

    def _ended(self, closed: ConnectionClosed) -> AgentStreamEndedError:
        """Record how the socket closed and build the error that says so."""
        self._record_close(closed)
        if isinstance(closed, WriteTimeout):
            return AgentConnectionLostError(
                f"write to the agent timed out after {closed.timeout:g}s (it stopped reading)",
                closed.code,
                closed.reason,
            )
        if closed.code in CLEAN_CLOSE_CODES:
            return AgentStreamEndedError(f"the agent closed the connection (code {closed.code})")
        return AgentConnectionLostError(
            f"connection to the agent lost ({closed})", closed.code, closed.reason or None
        )

    async def _send(self, message: Message) -> None:
        try:
            await self._open_sock().send(message)
        except ConnectionClosed as exc:
            raise self._ended(exc) from None

    async def _send_encoded(self, encoded: Encoded) -> None:
        for message in _messages(encoded):
            await self._send(message)

    async def _send_pcm(self, pcm: bytes, due: float) -> float:
        """Encode and send ``pcm`` in slices. With ``realtime``, each slice waits until the
        audio before it has had time to play (``due``: when the previous slice ends); an
        absolute schedule, so slow sends do not add up to drift. Returns the new ``due``.
        """
        bytes_per_second = PCM16_SAMPLE_RATE * PCM16_SAMPLE_WIDTH_BYTES
        step = len(pcm) if self.frame_ms is None else self.frame_ms * bytes_per_second // 1000
        step = max(step, PCM16_SAMPLE_WIDTH_BYTES)
        for start in range(0, len(pcm), step):
            piece = pcm[start : start + step]
            await self._send_encoded(self.protocol.encode_audio(piece))
            if self.realtime:
                due += len(piece) / bytes_per_second
                await trio.sleep_until(due)
        return due

    async def send_audio(self, chunk: AudioChunk) -> None:
        """Send one utterance: its audio, any trailing silence, then end-of-utterance messages.

        Raises :class:`TransportNotConnectedError` before ``connect``, and
        :class:`AgentStreamEndedError` (or its subclass) once the socket is closed.
        """
        sock = self._open_sock()
        if sock.close_reason is not None:
            raise self._ended(sock.close_reason)
        async with self._send_lock:
            due = await self._send_pcm(chunk.data, trio.current_time())
            self._mark_speech_end()
            if self.trailing_silence > 0:
                silence = bytes(int(self.trailing_silence * PCM16_SAMPLE_RATE) * 2)
                await self._send_pcm(silence, due)
            for message in _call_hook(self.protocol, "end_of_utterance") or ():
                await self._send(message)

    async def recv_audio(self, timeout: float) -> AudioChunk:  # noqa: ASYNC109
        """The next audio chunk (see the module docstring for the terminal states)."""
        sock = self._open_sock()
        inbox = self._inbox
        assert inbox is not None
        with trio.move_on_after(timeout):
            try:
                arrived, chunk = await inbox.receive()
            except trio.EndOfChannel:
                ended = self._ended_by
                if type(ended) is AgentStreamEndedError:
                    return AudioChunk(b"")  # a clean end of stream is not an error
                if ended is None and sock.close_reason is not None:
                    ended = self._ended(sock.close_reason)
                raise (ended or AgentStreamEndedError("the stream ended")) from None
            self._last_arrival_at = arrived
            return chunk
        raise TimeoutError(f"no audio from the agent within {timeout}s")

    async def _reader(
        self, sock: MessageSocket, inbox: trio.MemorySendChannel[tuple[float, AudioChunk]]
    ) -> None:
        """Read, decode and queue every message until the socket closes."""
        async with inbox:
            try:
                while True:
                    try:
                        message = await sock.receive()
                    except ConnectionClosed as exc:
                        self._ended_by = self._ended(exc)
                        return
                    arrived = trio.current_time()
                    chunk = self._decode(message)
                    if chunk is not None:
                        try:  # no extra trip through the scheduler while there is room
                            inbox.send_nowait((arrived, chunk))
                        except trio.WouldBlock:
                            await inbox.send((arrived, chunk))  # full: TCP pushes back
            except Exception as exc:
                # Raising here would cancel the caller's code (it runs inside this
                # nursery): end the stream with the reason instead.
                logger.exception("%s: the receive loop failed", type(self).__name__)
                self._ended_by = AgentConnectionLostError(
                    f"the adapter's receive loop failed: {type(exc).__name__}: {exc}"
                )

    def _decode(self, message: Message) -> AudioChunk | None:
        try:
            chunk = self.protocol.decode_response(message)
            if chunk is not None:
                return chunk
            event = _call_hook(self.protocol, "decode_event", message)
        except Exception as exc:
            self.decode_errors += 1
            logger.warning(
                "%s: skipped a message the protocol could not decode (%s: %s); %d so far",
                type(self).__name__, type(exc).__name__, exc, self.decode_errors,
            )  # fmt: skip
            return None
        if event is not None:
            self.events.append(event)
        return None

    async def interrupt(self) -> None:
        """Send the protocol's interrupt message at once (without waiting for a send)."""
        if not supports_interrupt(self.protocol):
            raise UnsupportedCapabilityError(type(self).__name__, "interruption")
        message = self.protocol.encode_interrupt()  # type: ignore[union-attr]
        if message is not None:
            await self._send(message)


def _call_hook(protocol: object, name: str, *args: Any) -> Any:
    """Call an optional protocol hook; a duck-typed protocol may not have it."""
    hook = getattr(protocol, name, None)
    return hook(*args) if hook is not None else None
