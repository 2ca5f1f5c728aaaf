"""The WebSocket client connection without I/O: bytes in, events out; calls in, bytes out.

:class:`ClientProtocol` holds every decision a WebSocket client connection makes: the
opening handshake (the upgrade request out, the response checked), frames assembled into
whole messages, the message size cap, UTF-8 of text messages, the pongs owed for the
peer's pings, the peer's pongs for ours, and the closing handshake. It reads no socket and
keeps no time; :mod:`trio_pipe.ws.client` moves its bytes over a Trio stream and owns the
timeouts. Tests drive it with bytes alone (``tests/ws/test_protocol.py``).

Frame coding and HTTP parsing are websockets' sans-I/O protocol
(``websockets.client.ClientProtocol``): its C-accelerated masking made a round trip's codec
work about 3x cheaper than wsproto's (``python -m benchmarks.ws_codec``). This module adds
what the I/O layer of websockets would otherwise do: message assembly, UTF-8 checks, the
events the driver acts on, and one state machine in our terms.

States (:class:`State`)::

    CONNECTING --Accepted--> OPEN --close()--> CLOSING --peer's close--> CLOSED
        |                      |                  |
        +--Rejected--> CLOSED  +--peer's close, bad input, EOF--> CLOSED (Closed event)

Events from :meth:`ClientProtocol.receive`: a message is its data (``bytes`` or ``str``);
the rest are :class:`Accepted`, :class:`Rejected`, :class:`Pong` and :class:`Closed`.
:class:`Closed` is always the last event; after it the driver writes :meth:`outgoing`
(the close reply the protocol owes) and drops the TCP connection.

Error handling
    Input the protocol refuses (a bad frame, a message over the cap, invalid UTF-8) ends
    the connection with the matching close code (1002, 1009, 1007): a close frame is owed
    to the peer and :class:`Closed` carries the code. A call that the state does not allow
    (sending after close) raises :class:`InvalidState`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

import attrs
from websockets.client import ClientProtocol as _Codec
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.typing import BytesLike, Subprotocol
from websockets.uri import parse_uri

__all__ = [
    "Accepted",
    "ClientProtocol",
    "Closed",
    "Event",
    "InvalidState",
    "Pong",
    "Rejected",
    "State",
    "Target",
]

ABNORMAL_CLOSURE = 1006
INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PONG, _CLOSE = Opcode.PONG, Opcode.CLOSE


class State(enum.Enum):
    """Where a client connection is in its life."""

    CONNECTING = "connecting"  # the upgrade request is out; no response yet
    OPEN = "open"  # messages flow both ways
    CLOSING = "closing"  # our close frame is out; the peer's messages still arrive
    CLOSED = "closed"  # both close frames crossed, or the connection failed


class InvalidState(Exception):
    """The call is not allowed in the connection's state (for example a send after close)."""

    def __init__(self, state: State) -> None:
        super().__init__(f"the connection is {state.value}")
        self.state = state


@attrs.frozen
class Accepted:
    """The server accepted the upgrade."""

    headers: dict[str, str]  # the response headers, names in lower case
    subprotocol: str | None


@attrs.frozen
class Rejected:
    """The server refused the upgrade (``status``: its HTTP status; None: not HTTP at all)."""

    status: int | None
    reason: str


@attrs.frozen
class Pong:
    """The peer answered a ping of ours."""

    payload: bytes


@attrs.frozen
class Closed:
    """The connection has ended: the peer's close code, or ours when we failed it."""

    code: int
    reason: str


Event = bytes | str | Accepted | Rejected | Pong | Closed


@attrs.frozen
class Target:
    """Where a ``ws://`` or ``wss://`` URL points."""

    host: str
    port: int
    secure: bool


class ClientProtocol:
    """One client connection's WebSocket logic, without I/O (see the module doc).

    ``headers`` go into the upgrade request, ``subprotocols`` are offered in it, and a
    message over ``max_message_size`` bytes (None: no cap) fails the connection with 1009.
    Raises ``ValueError`` for a URL that is not ``ws://`` or ``wss://``.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        subprotocols: Sequence[str] = (),
        max_message_size: int | None = 16 * 1024 * 1024,
    ) -> None:
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"not a WebSocket URL: {url!r} ({exc})") from None
        self.target = Target(uri.host, uri.port, uri.secure)
        self._codec = _Codec(
            uri,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            max_size=max_message_size,
        )
        self._request_headers = dict(headers or {})
        self.state = State.CONNECTING
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self._parts: list[BytesLike] = []
        self._text = False
        self._requested = False

    # --- calls: each returns the bytes to write --------------------------------------

    def handshake(self) -> bytes:
        """The upgrade request (once, first)."""
        if self.state is not State.CONNECTING or self._requested:
            raise InvalidState(self.state)
        self._requested = True
        request = self._codec.connect()
        for name, value in self._request_headers.items():
            request.headers[name] = value
        self._codec.send_request(request)
        return self.outgoing()

    def send(self, message: bytes | str) -> bytes:
        """One message as a frame: ``bytes`` binary, ``str`` text."""
        if self.state is not State.OPEN:
            raise InvalidState(self.state)
        if isinstance(message, str):
            self._codec.send_text(message.encode())
        else:
            self._codec.send_binary(message)
        writes = self._codec.data_to_send()
        return writes[0] if len(writes) == 1 else b"".join(writes)

    def ping(self, payload: bytes) -> bytes:
        """A ping frame; its pong comes back as a :class:`Pong` event."""
        if self.state is not State.OPEN:
            raise InvalidState(self.state)
        self._codec.send_ping(payload)
        return self.outgoing()

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """Start the closing handshake (nothing to write unless the connection is open)."""
        if self.state is not State.OPEN:
            return b""
        self._codec.send_close(code, reason)
        self.state = State.CLOSING
        return self.outgoing()

    def outgoing(self) -> bytes:
        """What the protocol owes the peer now (pongs, a close reply; usually nothing)."""
        writes = self._codec.data_to_send()
        if not writes:
            return b""
        return b"".join(writes)  # the end-of-stream marker is b"": the driver closes TCP

    # --- bytes in --------------------------------------------------------------------

    def receive(self, data: bytes | bytearray) -> list[Event]:
        """Feed what the socket read (``b""``: the peer closed TCP); return the events."""
        if self.state is State.CLOSED:
            return []
        codec = self._codec
        if data:
            codec.receive_data(data)
        else:
            codec.receive_eof()
        events: list[Event] = []
        for item in codec.events_received():
            if self.state is State.CLOSED:
                break  # we failed the connection: nothing after the bad frame counts
            if not isinstance(item, Frame):  # the handshake's response
                self._handshake_done(item, events)
                continue
            opcode = item.opcode
            if opcode is _BINARY or opcode is _TEXT or opcode is _CONT:
                self._fragment(opcode, item.data, item.fin, events)
            elif opcode is _PONG:
                events.append(Pong(bytes(item.data)))
            elif opcode is _CLOSE:
                rcvd = codec.close_rcvd
                assert rcvd is not None
                self._end(events, rcvd.code, rcvd.reason)
        if self.state is not State.CLOSED:
            if self.state is State.CONNECTING and codec.handshake_exc is not None:
                self._refused(None, codec.handshake_exc, events)
            elif codec.parser_exc is not None:
                self._failed(events)
        return events

    def _handshake_done(self, response: object, events: list[Event]) -> None:
        codec = self._codec
        status = getattr(response, "status_code", None)
        if codec.handshake_exc is not None:
            self._refused(status, codec.handshake_exc, events)
            return
        headers = getattr(response, "headers", None)
        if headers is not None:
            self.response_headers = {k.lower(): v for k, v in headers.raw_items()}
        self.subprotocol = codec.subprotocol
        self.state = State.OPEN
        events.append(Accepted(self.response_headers, self.subprotocol))

    def _refused(self, status: int | None, exc: BaseException, events: list[Event]) -> None:
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
        self.state = State.CLOSED
        events.append(Rejected(status, str(exc)))

    def _fragment(self, opcode: Opcode, data: BytesLike, fin: bool, events: list[Event]) -> None:
        if opcode is not _CONT:
            self._text = opcode is _TEXT
            if not fin:
                self._parts = [data]
                return
            whole = data  # the usual case: one frame, one message
        else:
            self._parts.append(data)
            if not fin:
                return
            whole, self._parts = b"".join(self._parts), []
        if not self._text:
            events.append(bytes(whole))  # the codec's buffers are bytearrays
            return
        try:
            events.append(str(whole, "utf-8"))
        except UnicodeDecodeError as exc:
            reason = f"invalid UTF-8 at position {exc.start}"
            self._codec.fail(INVALID_DATA, reason)
            self._end(events, INVALID_DATA, reason)

    def _failed(self, events: list[Event]) -> None:
        """The codec failed the connection: a bad frame, a message too big, or EOF."""
        exc = self._codec.parser_exc
        sent = self._codec.close_sent
        if isinstance(exc, EOFError) or sent is None:
            self._end(events, ABNORMAL_CLOSURE, "connection lost")
        else:
            self._end(events, sent.code, sent.reason or str(exc))

    def _end(self, events: list[Event], code: int, reason: str) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self._parts = []
        events.append(Closed(code, reason))
