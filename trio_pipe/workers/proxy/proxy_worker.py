"""What both WebSocket proxy workers share: rules, the current link, forwarding, counters.

:class:`ProxyWorkerBase` is the common part of ``WebSocketProxyClient`` and
``WebSocketProxyServer`` (``workers.proxy.websocket``): it forwards what its outbound rule
selects from the bus over the current :class:`~trio_pipe.workers.proxy.link.ProxyLink`,
and gives each new link the rules' admission check with a registry budget of its own.
Subclasses hook :meth:`_sent`, :meth:`_not_sent` and :meth:`_deliver`.
"""

from __future__ import annotations

from trio_pipe.bus.messages import BusMessage
from trio_pipe.serializers import JSONMessageSerializer, MessageSerializer
from trio_pipe.tracked import track
from trio_pipe.workers.base import BaseWorker
from trio_pipe.workers.proxy.link import ProxyLink, ProxyStats, tag_refuser
from trio_pipe.workers.proxy.policy import ProxyPolicy, RegistryBudget
from trio_pipe.workers.proxy.rules import ClientRules, ServerRules
from trio_pipe.ws.base import MessageSocket

__all__ = ["ProxyWorkerBase"]


class ProxyWorkerBase(BaseWorker):
    """What both proxies share: their rules, the current link, forwarding, counters."""

    def __init__(
        self,
        name: str,
        *,
        rules: ClientRules | ServerRules,
        serializer: MessageSerializer | None,
        active: bool,
    ) -> None:
        super().__init__(name, active=active)
        self._rules = rules
        self._serializer = serializer or JSONMessageSerializer()
        self.stats = ProxyStats()
        """Counters over all of this proxy's connections."""
        track(self, "proxy")  # read by trio_pipe.metrics when active
        self._link: ProxyLink | None = None
        self._budget: RegistryBudget | None = None
        self._stopping = False
        self._refuse_early = tag_refuser(self._serializer, rules.type_refusal)
        # Woken only for what it forwards or what BaseWorker handles.
        self.bus_prefilter = self._wanted
        # What it only passes on is queued for the socket from the sender's task, with no
        # switch to this worker's task; not if a subclass handles messages itself.
        if type(self).on_bus_message is ProxyWorkerBase.on_bus_message:
            self.bus_forward = self._forward_now

    @property
    def remote_worker_name(self) -> str:
        """The worker at the other end of the socket."""
        return self._rules.remote_worker_name

    def _wanted(self, message: BusMessage) -> bool:
        return self._addressed_here(message) or self._rules.outbound(message)

    @property
    def policy(self) -> ProxyPolicy:
        """What this proxy admits from its peer (see ``workers.proxy.policy``)."""
        return self._rules.policy

    def _new_link(self, sock: MessageSocket) -> ProxyLink:
        rules = self._rules
        budget = self._budget = rules.new_budget()  # per connection
        return ProxyLink(
            sock,
            owner=self.name,
            serializer=self._serializer,
            admit=lambda message: rules.admit(message, budget),
            deliver=self._deliver,
            stats=self.stats,
            refuse_early=self._refuse_early,
        )

    def _deliver(self, message: BusMessage) -> None:
        """Put an admitted message from the socket on the bus."""
        self._send(message)

    async def on_bus_message(self, message: BusMessage) -> None:
        """Built-in handling, then forward ``message`` if the outbound rule says so."""
        await super().on_bus_message(message)
        if not self._rules.outbound(message):
            return
        link = self._link
        if link is None:
            self._not_sent(message)
            return
        # Nothing queued behind it: the link may send it at once, without its writer.
        alone = self._bus is None or self._bus.backlog(self.name) == 0
        if await link.send(self._rules.to_wire(message), alone=alone):
            self._sent(message)

    def _forward_now(self, message: BusMessage) -> bool:
        """``bus_forward`` (see ``trio_pipe.bus.bus``): queue a message this proxy only
        passes on for the link's writer; False leaves it to :meth:`on_bus_message` (a
        message addressed here, no connection, an idle or full link)."""
        if self._addressed_here(message) or not self._rules.outbound(message):
            return False
        link = self._link
        if link is None or not link.queues_now():
            return False
        if link.queue_nowait(self._rules.to_wire(message)):
            self._sent(message)
        return True

    def _sent(self, message: BusMessage) -> None:
        """``message`` went over the socket."""

    def _not_sent(self, message: BusMessage) -> None:
        """``message`` was to go over the socket, but no connection was up."""
