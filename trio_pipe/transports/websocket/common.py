"""What the WebSocket client and server transports share.

* :class:`Holds`: which transport halves hold the connection (pure bookkeeping); the
  last release closes it. Pipecat counts calls, so one half releasing twice (stop, then
  cleanup) closes the socket under the other half; here each half counts once.
* :func:`default_allowed_origins` / :func:`is_origin_allowed`: the server's Origin check.
* :class:`SocketConnection`: one :class:`~trio_pipe.ws.base.MessageSocket` shared by the
  two halves: the :class:`~trio_pipe.transports.output.TransportWriter` the output sends
  through (``send`` never raises), the holds, and a bounded close.
* :class:`WebsocketOutputMixin` / :class:`WebsocketInputMixin`: how each half takes and
  releases its hold, and how a write that timed out in the socket's own watchdog (the
  only bound that works under Hypercorn's shielded writes) becomes the output's one
  ``ErrorFrame`` and ends the session.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.ws.base import ConnectionClosed, MessageSocket, WriteTimeout

if TYPE_CHECKING:
    from trio_pipe.transports.input import BaseInputTransport
    from trio_pipe.transports.output import BaseOutputTransport

__all__ = [
    "Holds",
    "SocketConnection",
    "WebsocketInputMixin",
    "WebsocketOutputMixin",
    "default_allowed_origins",
    "is_origin_allowed",
]

logger = logging.getLogger(__name__)


class Holds:
    """Which holders (transport halves) hold a connection.

    ``hold(h)`` registers ``h``; ``release(h)`` returns True exactly once: when the last
    holder lets go. A holder that releases twice, or one that never held, changes
    nothing.
    """

    __slots__ = ("_held", "_released")

    def __init__(self) -> None:
        self._held: set[int] = set()
        self._released: set[int] = set()

    @property
    def count(self) -> int:
        """Holders that hold now."""
        return len(self._held)

    @property
    def ever_held(self) -> bool:
        """True once anyone held."""
        return bool(self._held or self._released)

    def __contains__(self, holder: object) -> bool:
        return id(holder) in self._held

    def hold(self, holder: object) -> bool:
        """Register ``holder``; False if it holds already or has released."""
        key = id(holder)
        if key in self._held or key in self._released:
            return False
        self._held.add(key)
        return True

    def release(self, holder: object) -> bool:
        """Let ``holder`` go; True when that leaves nobody holding."""
        key = id(holder)
        if key not in self._held:
            return False
        self._held.remove(key)
        self._released.add(key)
        return not self._held


def default_allowed_origins() -> list[str]:
    """Origins listed in ``PIPECAT_ALLOWED_ORIGINS`` (comma-separated); [] allows any."""
    value = os.environ.get("PIPECAT_ALLOWED_ORIGINS", "")
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def is_origin_allowed(origin: str | None, allowed_origins: list[str]) -> bool:
    """True when ``allowed_origins`` is empty or lists ``origin`` (case-insensitive)."""
    if not allowed_origins:
        return True
    if not origin:
        return False
    return origin.lower() in {allowed.lower() for allowed in allowed_origins}


class SocketConnection:
    """A :class:`MessageSocket` shared by a transport's input and output.

    ``is_connected``: a socket is attached, open, and we are not closing it.
    ``is_closing``: we started closing it. ``send`` returns False instead of raising.
    """

    def __init__(self, name: str, *, close_timeout: float) -> None:
        self.name = name
        self.close_timeout = close_timeout
        self.holds = Holds()
        self._sock: MessageSocket | None = None
        self._closing = False
        self._released = trio.Event()  # every holder let go
        #: The receive loop runs in this scope; cancelled when we drop the connection, so
        #: the loop ends even if the server below never reports the socket's end.
        self.read_scope = trio.CancelScope()
        #: True once a send outlived the write timeout (the socket was aborted).
        self.write_timed_out = False

    def __str__(self) -> str:
        return self.name

    @property
    def socket(self) -> MessageSocket | None:
        """The shared socket, once there is one."""
        return self._sock

    @property
    def is_connected(self) -> bool:
        """Open, and we are not closing it."""
        sock = self._sock
        return sock is not None and sock.is_open and not self._closing

    @property
    def is_closing(self) -> bool:
        """We have started closing the connection."""
        return self._closing

    async def send(self, data: str | bytes) -> bool:
        """Send one message; False (logged) when not connected or the send failed."""
        sock = self._sock
        if sock is None or self._closing:
            return False
        try:
            await sock.send(data)
        except WriteTimeout as exc:
            # The watchdog dropped the connection; the output reports it, then abort()s.
            self.write_timed_out = True
            logger.warning("%s: %s", self, exc)
            return False
        except ConnectionClosed as exc:
            logger.debug("%s: send on a closed connection (%s)", self, exc)
            return False
        return True

    def hold(self, holder: object) -> None:
        """``holder`` (a transport half) uses the connection until it releases it."""
        self.holds.hold(holder)

    async def release(self, holder: object) -> None:
        """``holder`` is done; the last one closes the connection (code 1000, bounded).

        Whoever waits for every release (the task that owns the socket) wakes only once
        the close has completed: the close handshake may need that task's reader.
        """
        if self.holds.release(holder):
            try:
                await self.close()
            finally:
                self._released.set()

    async def close(self) -> None:
        """Close (code 1000) within ``close_timeout`` unless closed or closing already."""
        sock = self._sock
        if sock is None or self._closing or not sock.is_open:
            return
        self._closing = True
        await sock.close(timeout=self.close_timeout)

    @property
    def can_abort(self) -> bool:
        """True if an abort closes the TCP socket under a blocked write."""
        return bool(getattr(self._sock, "can_abort", self._sock is not None))

    def abort(self, reason: str) -> None:
        """Drop the connection now, without a close handshake; the receive loop ends."""
        if self._sock is not None:
            self._sock.abort(reason)
        self.read_scope.cancel()


class _HalfMixin:
    """Hold the connection from the ``StartFrame`` (taken before the frame is passed on,
    so no ``EndFrame`` can get here first and close under the other half) and release it
    at End, Cancel and cleanup (each half counts once)."""

    _connection: SocketConnection

    async def process_frame(self: Any, frame: Frame, direction: FrameDirection) -> None:
        """Take the hold on the StartFrame, then route as the base transport does."""
        if isinstance(frame, StartFrame):
            self._connection.hold(self)
        await super().process_frame(frame, direction)  # type: ignore[misc]

    async def stop(self: Any, frame: EndFrame) -> None:
        """The base stop, then this half's end, then release."""
        await super().stop(frame)  # type: ignore[misc]
        self._half_ended()
        await self._connection.release(self)

    async def cancel(self: Any, frame: CancelFrame) -> None:
        """The base cancel, then this half's end, then release."""
        await super().cancel(frame)  # type: ignore[misc]
        self._half_ended()
        await self._connection.release(self)

    async def cleanup(self: Any) -> None:
        """The base cleanup, then this half's end, then release (idempotent)."""
        await super().cleanup()  # type: ignore[misc]
        self._half_ended()
        await self._connection.release(self)

    def _half_ended(self) -> None:
        """Stop this half's own loops (subclasses)."""


class WebsocketOutputMixin(_HalfMixin):
    """For a :class:`BaseOutputTransport` that writes through a :class:`SocketConnection`.

    A send that the socket's watchdog aborted is reported like the output's own write
    timeout: one ``ErrorFrame`` upstream, the output unusable, the session over.
    """

    async def _send_payload(self: Any, payload: str | bytes, *, audio: bool) -> bool:
        out: BaseOutputTransport = self
        if audio and out._packetizer is not None:
            ok = await super()._send_payload(payload, audio=audio)  # type: ignore[misc]
        elif not out._connected():
            return False
        else:
            # The socket serializes sends and bounds each one with its watchdog (which
            # also works under Hypercorn's shielded writes), so the base's lock and
            # deadline around it would only add cost on every audio chunk.
            try:
                ok = await self._connection.send(payload)
            except trio.Cancelled:
                out._unusable = True  # part of a message may be on the wire
                raise
        if not ok and self._connection.write_timed_out:
            await out._write_timed_out(out.params.audio_out_write_timeout_secs)
        return ok

    async def _write_audio_bounded(self: Any, frame: OutputAudioRawFrame) -> bool:
        # The socket's watchdog bounds the send (pacing waits happen outside writes), so
        # the base's deadline around each chunk is not needed here, unless the socket
        # cannot abort a blocked write (an ASGI server other than Hypercorn).
        out: BaseOutputTransport = self
        if not self._connection.can_abort:
            return await super()._write_audio_bounded(frame)  # type: ignore[misc]
        if out._unusable:
            return False
        try:
            return await out.write_audio_frame(frame)
        except Exception:
            logger.exception("%s: error writing %s", self, frame)
            return False

    async def on_write_timeout(self) -> None:
        """The peer stopped reading: drop the connection, which ends the session."""
        self._connection.abort("write timed out")


class WebsocketInputMixin(_HalfMixin):
    """For a :class:`BaseInputTransport` reading from a :class:`SocketConnection`.

    Without an input filter, received audio is pushed on from the receive loop itself:
    the audio path's queue and loop exist to keep a slow filter from holding up the
    receive loop, and with no filter there is nothing to wait for (pushing to the next
    processor never blocks). That saves a queue hop and a task switch per audio message,
    the transport's most frequent one, and keeps audio in arrival order with the rest.
    """

    async def push_audio_frame(self: Any, frame: InputAudioRawFrame) -> None:
        """Push received audio on directly when there is no filter (see the class)."""
        inp: BaseInputTransport = self
        if inp._audio_send is None or inp.params.audio_in_filter is not None:
            await super().push_audio_frame(frame)  # type: ignore[misc]
        elif inp.params.audio_in_passthrough:
            await inp.push_frame(frame)
