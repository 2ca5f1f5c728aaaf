"""What the WebSocket proxies forward and accept: pure rules, no sockets.

Each proxy links one local worker to one remote worker. Its rules say which bus messages
go out over the socket (*outbound*) and which decoded messages from the socket go on the
local bus (*inbound*); everything else is dropped. The rules are Pipecat 1.14's (spec
bus-workers-proxy §7), kept here as plain functions of a message so they can be tested
on their own and shared by the workers and the bus prefilter.

Client (``WebSocketProxyClient``)
    out: a message targeted at ``remote_worker_name``, whatever its source; otherwise a
    ``forward_messages`` instance whose source is ``local_worker_name``, whatever its
    target. Never a local message.

    in: every ``BusWorkerRegistryMessage`` (that is how the remote worker becomes known);
    every ``forward_messages`` instance; otherwise only messages targeted at
    ``local_worker_name``.

Server (``WebSocketProxyServer``)
    out: only messages whose source is ``worker_name``: those targeted at
    ``remote_worker_name``, and ``forward_messages`` instances whatever their target.
    Never a local message, never a registry message from the bus (the server sends its
    own, once, when ``worker_name`` is ready).

    in: every ``forward_messages`` instance; otherwise only messages targeted at
    ``worker_name`` (so a client's registry messages are dropped).

trio_pipe adds one inbound rule on both sides: a local message (``BusLocalMessage``) that a
custom serializer managed to decode is never accepted, since it may never cross a process
boundary.
"""

from __future__ import annotations

import attrs

from trio_pipe.bus.messages import BusLocalMessage, BusMessage, BusWorkerRegistryMessage
from trio_pipe.serializers.messages import MessageSerializer

__all__ = ["ClientRules", "ServerRules", "decode_frame"]


def _types(value: object) -> tuple[type[BusMessage], ...]:
    if isinstance(value, type):
        value = (value,)
    types = tuple(value)  # type: ignore[arg-type]
    for cls in types:
        if not (isinstance(cls, type) and issubclass(cls, BusMessage)):
            raise TypeError(f"forward_messages must hold BusMessage classes, not {cls!r}")
    return types


@attrs.frozen
class ClientRules:
    """Forwarding rules of a proxy client (see the module doc)."""

    remote_worker_name: str
    local_worker_name: str
    forward_messages: tuple[type[BusMessage], ...] = attrs.field(default=(), converter=_types)

    def outbound(self, message: BusMessage) -> bool:
        """True if ``message`` from the local bus goes over the socket."""
        if isinstance(message, BusLocalMessage):
            return False
        if message.target == self.remote_worker_name:
            return True
        return (
            bool(self.forward_messages)
            and isinstance(message, self.forward_messages)
            and message.source == self.local_worker_name
        )

    def inbound(self, message: BusMessage) -> bool:
        """True if ``message`` from the socket goes on the local bus."""
        if isinstance(message, BusLocalMessage):
            return False
        if isinstance(message, BusWorkerRegistryMessage):
            return True
        if self.forward_messages and isinstance(message, self.forward_messages):
            return True
        return message.target == self.local_worker_name


@attrs.frozen
class ServerRules:
    """Forwarding rules of a proxy server (see the module doc)."""

    worker_name: str
    remote_worker_name: str
    forward_messages: tuple[type[BusMessage], ...] = attrs.field(default=(), converter=_types)

    def outbound(self, message: BusMessage) -> bool:
        """True if ``message`` from the local bus goes over the socket."""
        if message.source != self.worker_name:
            return False
        if isinstance(message, BusLocalMessage | BusWorkerRegistryMessage):
            return False
        if message.target == self.remote_worker_name:
            return True
        return bool(self.forward_messages) and isinstance(message, self.forward_messages)

    def inbound(self, message: BusMessage) -> bool:
        """True if ``message`` from the socket goes on the local bus."""
        if isinstance(message, BusLocalMessage):
            return False
        if self.forward_messages and isinstance(message, self.forward_messages):
            return True
        return message.target == self.worker_name


def decode_frame(serializer: MessageSerializer, data: bytes | str) -> BusMessage:
    """Decode one WebSocket message: binary as is, text as its UTF-8 bytes.

    Raises whatever the serializer raises (a ``MessageDecodeError`` for the JSON one).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return serializer.deserialize(data)
