"""What the WebSocket proxies forward and admit: pure rules, no sockets.

Each proxy links one local worker to one remote worker. Its rules say which bus messages
go out over the socket (*outbound*) and which decoded messages from the socket go on the
local bus (*inbound*, :meth:`admit`); everything else is dropped. Which *types* may come
in is the connection's :class:`~trio_pipe.workers.proxy.policy.ProxyPolicy`; the rules
here add the name checks and the server's per-connection bus name.

Client (``WebSocketProxyClient``)
    out (Pipecat 1.14's rule): a message targeted at ``remote_worker_name``, whatever its
    source; otherwise a ``forward_messages`` instance whose source is
    ``local_worker_name``, whatever its target. Never a local message.

    in: the policy's types, from ``remote_worker_name`` (the source is checked), targeted
    at ``local_worker_name`` (any target for ``forward_messages`` instances). A registry
    snapshot (it names the host's runner, not the worker) is admitted, trimmed to the
    remote worker's own entry: that is how the remote worker becomes known; a bounded
    number per connection.

Server (``WebSocketProxyServer``)
    The connection's client worker gets a bus name of its own, ``bus_name`` (by default
    ``"<remote_worker_name>@<proxy name>"``): admitted messages carry it as their source
    on the local bus, so the served worker answers that connection and no other, even when
    two clients use the same worker name; on the way out it becomes
    ``remote_worker_name`` again, so the client sees the names it expects. The ids of
    the jobs a client asks for get the same suffix (``"<job id>@<bus_name>"``) on the
    local bus, so two connections that use the same job ids can neither replace nor
    cancel each other's jobs; replies go out with the client's own ids.

    out: only messages whose source is ``worker_name``: those targeted at ``bus_name``
    (sent with target ``remote_worker_name``), and ``forward_messages`` instances whose
    target is not another connection's bus name. Never a local message, never a registry
    message from the bus (the server sends its own, once, when ``worker_name`` is ready).

    in: the policy's types (by default the job protocol and plain data), with source
    ``remote_worker_name`` (anything else is refused: the client cannot speak for
    another), targeted at ``worker_name`` (any target for ``forward_messages``
    instances). Registry snapshots only if the policy admits them, within its limits,
    their runner renamed ``"<runner>@<bus_name>"`` (the proxy forgets it when the client
    leaves).
"""

from __future__ import annotations

import copy

import attrs

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobUpdateRequestMessage,
    BusLocalMessage,
    BusMessage,
    BusWorkerRegistryMessage,
)
from trio_pipe.serializers import MessageSerializer
from trio_pipe.workers.proxy.policy import (
    ProxyPolicy,
    Refusal,
    RegistryBudget,
    RegistryLimits,
    message_types,
)

__all__ = ["PEER_SEPARATOR", "ClientRules", "ServerRules", "decode_frame", "peer_bus_name"]

PEER_SEPARATOR = "@"
"""Joins a client's worker name and its proxy's name into the client's bus name."""

_CLIENT_REGISTRY = RegistryLimits(max_messages=8, max_workers=1)

# What a client sends about its own jobs: their ids get the connection's suffix.
_CLIENT_JOB_MESSAGES = (BusJobRequestMessage, BusJobCancelMessage, BusJobUpdateRequestMessage)


def peer_bus_name(remote_worker_name: str, proxy_name: str) -> str:
    """The bus name a server proxy gives its client's worker (unique per connection)."""
    return f"{remote_worker_name}{PEER_SEPARATOR}{proxy_name}"


@attrs.frozen
class ClientRules:
    """Forwarding rules of a proxy client (see the module doc)."""

    remote_worker_name: str
    local_worker_name: str
    forward_messages: tuple[type[BusMessage], ...] = attrs.field(
        default=(), converter=message_types
    )
    policy: ProxyPolicy = attrs.Factory(ProxyPolicy)

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

    def to_wire(self, message: BusMessage) -> BusMessage:
        """The message as sent (the client sends messages as they are)."""
        return message

    def type_refusal(self, cls: type) -> Refusal | None:
        """The policy's refusal by type alone; registry snapshots are always let through
        to :meth:`admit`, which trims them."""
        if issubclass(cls, BusWorkerRegistryMessage) and not issubclass(cls, BusLocalMessage):
            return None
        return self.policy.type_refusal(cls)

    def new_budget(self) -> RegistryBudget:
        """A fresh registry allowance, for one connection."""
        return RegistryBudget(self.policy.registry or _CLIENT_REGISTRY)

    def admit(self, message: BusMessage, budget: RegistryBudget | None = None) -> Refusal | None:
        """None if ``message`` from the socket goes on the local bus, else why not.

        May trim a registry snapshot to the remote worker's entry (in place: a decoded
        message belongs to the receive loop alone).
        """
        if isinstance(message, BusWorkerRegistryMessage):
            if isinstance(message, BusLocalMessage):
                return Refusal.LOCAL
            message.workers = [e for e in message.workers if e.name == self.remote_worker_name]
            if not message.workers:
                return Refusal.REGISTRY
            return budget.take(message) if budget is not None else None
        refusal = self.policy.refusal(message)
        if refusal is not None:
            return refusal
        if message.source != self.remote_worker_name:
            return Refusal.SOURCE
        if self.forward_messages and isinstance(message, self.forward_messages):
            return None
        if message.target != self.local_worker_name:
            return Refusal.TARGET
        return None

    def inbound(self, message: BusMessage) -> bool:
        """True if :meth:`admit` admits ``message`` (no registry budget)."""
        return self.admit(message) is None


@attrs.frozen
class ServerRules:
    """Forwarding rules of a proxy server (see the module doc).

    ``bus_name`` defaults to ``remote_worker_name`` (no renaming); the server proxy sets
    it to :func:`peer_bus_name`.
    """

    worker_name: str
    remote_worker_name: str
    forward_messages: tuple[type[BusMessage], ...] = attrs.field(
        default=(), converter=message_types
    )
    policy: ProxyPolicy = attrs.Factory(ProxyPolicy)
    bus_name: str = attrs.field(
        default=attrs.Factory(lambda self: self.remote_worker_name, takes_self=True)
    )

    def outbound(self, message: BusMessage) -> bool:
        """True if ``message`` from the local bus goes over the socket."""
        if message.source != self.worker_name:
            return False
        if isinstance(message, BusLocalMessage | BusWorkerRegistryMessage):
            return False
        target = message.target
        if target == self.bus_name:
            return True
        if not (self.forward_messages and isinstance(message, self.forward_messages)):
            return False
        # Another connection's client: its messages are not ours to see.
        return target is None or PEER_SEPARATOR not in target

    def to_wire(self, message: BusMessage) -> BusMessage:
        """The message as sent: addressed to the client's own name (not its bus name),
        about the client's own job id."""
        if message.target != self.bus_name or self.bus_name == self.remote_worker_name:
            return message
        wire = copy.copy(message)  # in-process subscribers share the original
        wire.target = self.remote_worker_name
        job_id = getattr(wire, "job_id", None)
        if job_id.__class__ is str:
            suffix = f"{PEER_SEPARATOR}{self.bus_name}"
            wire.job_id = job_id.removesuffix(suffix)  # type: ignore[attr-defined]
        return wire

    def type_refusal(self, cls: type) -> Refusal | None:
        """The policy's refusal by type alone (see ``ProxyPolicy.type_refusal``)."""
        return self.policy.type_refusal(cls)

    def new_budget(self) -> RegistryBudget | None:
        """A fresh registry allowance for one connection (None: snapshots refused)."""
        limits = self.policy.registry
        return RegistryBudget(limits) if limits is not None else None

    def admit(self, message: BusMessage, budget: RegistryBudget | None = None) -> Refusal | None:
        """None if ``message`` from the socket goes on the local bus, else why not.

        An admitted message gets ``bus_name`` as its source (in place: a decoded message
        belongs to the receive loop alone).
        """
        refusal = self.policy.refusal(message)
        if refusal is not None:
            return refusal
        if isinstance(message, BusWorkerRegistryMessage):
            # A snapshot speaks for its runner, not a worker: only the budget bounds it.
            # Its runner is filed under this connection's name, so the client can neither
            # pass for a runner the host knows nor make the host forget one when it leaves.
            if budget is None:
                return Refusal.REGISTRY_LIMIT
            message.runner = f"{message.runner}{PEER_SEPARATOR}{self.bus_name}"
            return budget.take(message)
        if message.source != self.remote_worker_name:
            return Refusal.SOURCE
        forwarded = bool(self.forward_messages) and isinstance(message, self.forward_messages)
        if not forwarded and message.target != self.worker_name:
            return Refusal.TARGET
        message.source = self.bus_name
        if isinstance(message, _CLIENT_JOB_MESSAGES) and self.bus_name != self.remote_worker_name:
            message.job_id = f"{message.job_id}{PEER_SEPARATOR}{self.bus_name}"
        return None

    def inbound(self, message: BusMessage) -> bool:
        """True if :meth:`admit` admits ``message`` (no registry budget).

        Careful: an admitted message is renamed as :meth:`admit` does.
        """
        return self.admit(message) is None


def decode_frame(serializer: MessageSerializer, data: bytes | str) -> BusMessage:
    """Decode one WebSocket message: binary as is, text as its UTF-8 bytes.

    Raises whatever the serializer raises (a ``MessageDecodeError`` for the JSON one).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return serializer.deserialize(data)
