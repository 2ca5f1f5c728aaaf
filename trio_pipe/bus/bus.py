"""The worker bus: every subscriber gets every message, in two lanes.

:class:`WorkerBus` is the abstract bus; :class:`LocalBus` (also exported as
``AsyncQueueBus``, Pipecat's name) delivers in-process.

Delivery, per subscriber:

* every message sent after it subscribed arrives exactly once (in-process, the same
  object); ``accepts_bus_message`` is asked at dispatch and may drop it for that
  subscriber only;
* system messages and data messages each keep send order;
* queued system messages are dispatched before any queued data message, and are handled
  even while the data handler is still running, so a cancel reaches a busy worker;
* a slow subscriber never delays another.

Prefilter (optional): a subscriber may have a ``bus_prefilter`` attribute, a callable
taking a message and returning False for messages it would certainly ignore (read once,
at subscribe time; None means none). Those are not queued for it, which saves waking its
task for nothing. It is asked at send time, so it may only skip what the subscriber would
also ignore whenever the message were dispatched (for example a message targeted at
another worker); ``accepts_bus_message`` stays the dispatch-time check.

Forwarding (optional): a subscriber that only passes messages on (a proxy, which encodes
them for its socket) may have a ``bus_forward`` attribute, read once at subscribe time: a
plain (not async) callable taking a message and returning True if it took it. While the
bus runs and the subscriber has nothing queued and is not handling a message, a message
for it is given to ``bus_forward`` at send time, in the sender's task, instead of being
queued for its data task; ``accepts_bus_message`` is asked first, as dispatch would ask
it. False (it cannot take the message without waiting: its connection is busy or gone)
queues the message as usual. Either way the subscriber sees messages in send order. It
must not block or raise; an exception is logged and counted like a handler's and the
message is dropped for that subscriber.

Resource handling
    :meth:`WorkerBus.run` owns a nursery. Each subscription has two tasks in it: a
    *router* that handles system messages inline, and a *data task* that handles data
    messages one at a time. When ``run`` returns (stopping is cancelling), no dispatcher
    is left. Messages sent while the bus is stopped stay queued and are delivered, system
    first, when it runs again.

    The lanes are unbounded deques; each waiting task parks on a one-task wakeup. A
    bounded lane would block a sender, and a worker that messages itself would deadlock;
    dropping a control message is never acceptable. Instead a warning is logged when a
    subscriber's backlog passes ``backlog_warning`` messages. Deques (rather than memory
    channels) let the data task check the system lane before every data message, which
    is what makes "system first" exact, and let a burst be drained without a scheduler
    round trip per message.

Error handling
    An ``Exception`` from ``on_bus_message`` is logged with the subscriber and the message,
    counted in :attr:`WorkerBus.handler_errors`, and dispatch goes on in both lanes.
    Cancellation is never caught.
"""

from __future__ import annotations

import logging
from collections import deque

import trio

from trio_pipe._errors import single_errors
from trio_pipe.bus.messages import BusLocalMessage, BusMessage, BusSystemMessage
from trio_pipe.bus.statistics import BusStatistics, SubscriberStatistics
from trio_pipe.wakeup import Wakeup

__all__ = ["AsyncQueueBus", "BusSubscriber", "LocalBus", "WorkerBus"]

logger = logging.getLogger(__name__)

# A data task that never meets a checkpoint in its handlers would starve every other
# task; it yields after this many messages in a row.
_YIELD_EVERY = 128


class BusSubscriber:
    """Base class (or duck type) for whatever receives bus messages, as in Pipecat.

    Subclass it and override ``name`` and :meth:`on_bus_message`; the inherited
    :meth:`accepts_bus_message` takes everything. Workers and runners are subscribers.
    Any object with ``name`` and ``on_bus_message`` may subscribe without inheriting;
    ``accepts_bus_message`` is then optional too.
    """

    @property
    def name(self) -> str:
        """Unique name on the bus (override)."""
        raise NotImplementedError(f"{type(self).__name__} must define a name")

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Return False to drop ``message`` for this subscriber (asked at dispatch).

        It must return a bool: anything else is logged as an error of this subscriber
        and counted in :attr:`WorkerBus.handler_errors` (the message is not delivered).
        """
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        """Handle one message (override)."""


def _accept_all(message: BusMessage) -> bool:
    return True


class _Subscription:
    """One subscriber's two lanes and the two tasks that empty them."""

    __slots__ = (
        "accepts",
        "bus",
        "data",
        "data_ready",
        "dispatch",
        "dispatching",
        "forward",
        "prefilter",
        "scope",
        "subscriber",
        "system",
        "system_idle",
        "system_ready",
        "warned",
    )

    def __init__(self, bus: WorkerBus, subscriber: BusSubscriber) -> None:
        self.bus = bus
        self.subscriber = subscriber
        self.system: deque[BusMessage] = deque()
        self.data: deque[BusMessage] = deque()
        self.system_ready = Wakeup()  # the router waits here for system messages
        self.data_ready = Wakeup()  # the data task waits here for data messages
        self.system_idle = Wakeup()  # the data task waits here for queued system to go
        self.scope: trio.CancelScope | None = None
        self.warned = False
        self.prefilter = getattr(subscriber, "bus_prefilter", None)
        self.forward = getattr(subscriber, "bus_forward", None)
        self.dispatching = 0  # handlers of this subscriber under way (in both lanes)
        # Only a forwarder needs that count, so only its dispatch keeps it.
        self.dispatch = bus._dispatch if self.forward is None else bus._dispatch_counted
        # A duck-typed subscriber may leave the filter out: it then takes everything.
        self.accepts = getattr(subscriber, "accepts_bus_message", None) or _accept_all

    def push(self, message: BusMessage) -> None:
        if self.prefilter is not None:
            wanted = self.prefilter(message)
            if wanted is not True:
                if wanted is False:
                    return
                # Not a bool: report it and let the dispatch-time filter decide.
                self.bus.handler_errors += 1
                logger.error(
                    "bus subscriber %r: bus_prefilter returned %s, not a bool, for %s",
                    self.subscriber.name,
                    type(wanted).__name__,
                    message,
                )
        if (
            self.forward is not None
            and self.bus._nursery is not None  # running: a stopped bus keeps what is sent
            and not self.dispatching
            and not self.system
            and not self.data
            and self.bus._forward(self, message)
        ):
            return
        if isinstance(message, BusSystemMessage):
            self.system.append(message)
            self.system_ready.wake()
        else:
            self.data.append(message)
            self.data_ready.wake()
        if len(self.data) + len(self.system) > self.bus.backlog_warning:
            self._warn_backlog()

    def _warn_backlog(self) -> None:
        if not self.warned:
            self.warned = True
            logger.warning(
                "bus subscriber %r has over %d undelivered messages",
                self.subscriber.name,
                self.bus.backlog_warning,
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self.scope = scope
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._route_system)
                nursery.start_soon(self._handle_data)
                task_status.started()

    async def _route_system(self) -> None:
        system = self.system
        while True:
            while system:
                await self.dispatch(self, system.popleft())
            self.system_idle.wake()
            await self.system_ready.park()

    async def _handle_data(self) -> None:
        system, data = self.system, self.data
        handled = 0
        while True:
            while data:
                if system:
                    # Queued system messages go first; the router wakes us once they are done.
                    await self.system_idle.park()
                    continue
                await self.dispatch(self, data.popleft())
                handled += 1
                if handled >= _YIELD_EVERY:
                    handled = 0
                    await trio.lowlevel.checkpoint()
            handled = 0
            self.warned = False
            await self.data_ready.park()


class WorkerBus:
    """Abstract bus: subscribers, the two-lane dispatch, and :meth:`publish` for subclasses.

    Args:
        backlog_warning: log a warning when one subscriber has more undelivered
            messages than this.
    """

    def __init__(self, *, backlog_warning: int = 10_000) -> None:
        self.backlog_warning = backlog_warning
        self._subscriptions: dict[str, _Subscription] = {}
        self._nursery: trio.Nursery | None = None
        self.handler_errors = 0
        """How many subscriber handlers raised (each was logged)."""

    # --- subscribers ---------------------------------------------------------------------

    def subscribe(self, subscriber: BusSubscriber) -> None:
        """Add ``subscriber``; a second subscriber with the same name is ignored."""
        if subscriber.name in self._subscriptions:
            return
        subscription = _Subscription(self, subscriber)
        self._subscriptions[subscriber.name] = subscription
        if self._nursery is not None:
            self._nursery.start_soon(subscription.run)

    def unsubscribe(self, subscriber: BusSubscriber) -> list[BusMessage]:
        """Remove the subscriber with ``subscriber``'s name and stop its dispatch.

        Returns the messages that were queued for it and will now never be delivered
        (system lane first), so a finishing worker can answer the job requests among them.
        """
        subscription = self._subscriptions.pop(subscriber.name, None)
        if subscription is None:
            return []
        if subscription.scope is not None:
            subscription.scope.cancel()
        undelivered = [*subscription.system, *subscription.data]
        subscription.system.clear()
        subscription.data.clear()
        return undelivered

    @property
    def subscribers(self) -> list[BusSubscriber]:
        """The current subscribers, in subscription order."""
        return [s.subscriber for s in self._subscriptions.values()]

    def backlog(self, name: str) -> int:
        """How many messages wait in subscriber ``name``'s lanes (0 for an unknown name).

        A subscriber may ask it from its handler to learn whether more is coming right
        behind the message it handles (a proxy sends a lone message without a hand-off).
        """
        subscription = self._subscriptions.get(name)
        if subscription is None:
            return 0
        return len(subscription.data) + len(subscription.system)

    def statistics(self) -> BusStatistics:
        """What waits in the subscribers' lanes now, and the handler errors so far (the
        way ``trio.MemoryChannel.statistics()`` describes a channel)."""
        return BusStatistics(
            subscribers=self._subscriber_statistics(),
            backlog_warning=self.backlog_warning,
            handler_errors=self.handler_errors,
        )

    def _subscriber_statistics(self) -> tuple[SubscriberStatistics, ...]:
        return tuple(
            SubscriberStatistics(name, len(s.system), len(s.data))
            for name, s in self._subscriptions.items()
        )

    # --- sending -------------------------------------------------------------------------

    def send(self, message: BusMessage) -> None:
        """Send ``message``: local messages stay in-process, others go to :meth:`publish`."""
        if isinstance(message, BusLocalMessage):
            self.on_message_received(message)
        else:
            self.publish(message)

    def publish(self, message: BusMessage) -> None:
        """Deliver a non-local message to every process on this bus."""
        raise NotImplementedError(f"{type(self).__name__} must implement publish()")

    def on_message_received(self, message: BusMessage) -> None:
        """Queue ``message`` for every current subscriber (no filtering by source or target)."""
        for subscription in self._subscriptions.values():
            subscription.push(message)

    # --- running -------------------------------------------------------------------------

    @single_errors
    async def run(self, *, task_status: trio.TaskStatus[WorkerBus] = trio.TASK_STATUS_IGNORED):
        """Run the dispatchers until cancelled; ``started()`` once all are running.

        An error (a network bus that cannot connect) is raised as itself, not inside
        exception groups (``trio_pipe._errors``).
        """
        if self._nursery is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        try:
            async with trio.open_nursery() as nursery:
                existing = list(self._subscriptions.values())
                self._nursery = nursery  # from here on, subscribe() starts its own
                for subscription in existing:
                    await nursery.start(subscription.run)
                await self._start_transport(nursery)
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._nursery = None

    async def _start_transport(self, nursery: trio.Nursery) -> None:
        """Hook for network buses: start their own tasks in the bus nursery.

        Called by :meth:`run` once the dispatchers are running and before ``started()``,
        so a network bus can connect and subscribe first and be ready when ``run`` reports
        it started. The tasks are stopped with the bus. The in-process bus starts nothing.
        """

    async def _dispatch(self, subscription: _Subscription, message: BusMessage) -> None:
        subscriber = subscription.subscriber
        try:
            accepted = subscription.accepts(message)
            if accepted is True:
                await subscriber.on_bus_message(message)
            elif accepted is not False:
                raise _not_a_bool(accepted)
        except Exception:
            self.handler_errors += 1
            logger.exception("bus subscriber %r failed on %s", subscriber.name, message)

    async def _dispatch_counted(self, subscription: _Subscription, message: BusMessage) -> None:
        """:meth:`_dispatch` for a subscriber with ``bus_forward``, which may take messages
        at send time only while none of its handlers runs."""
        subscription.dispatching += 1
        try:
            await self._dispatch(subscription, message)
        finally:
            subscription.dispatching -= 1

    def _forward(self, subscription: _Subscription, message: BusMessage) -> bool:
        """Give ``message`` to an idle subscriber's ``bus_forward``; False to queue it."""
        try:
            if not _accepted(subscription, message):
                return True  # dropped for this subscriber, as dispatch would drop it
            forward = subscription.forward
            return forward is not None and forward(message) is True
        except Exception:
            self.handler_errors += 1
            logger.exception(
                "bus subscriber %r failed to forward %s", subscription.subscriber.name, message
            )
            return True


def _accepted(subscription: _Subscription, message: BusMessage) -> bool:
    accepted = subscription.accepts(message)
    if accepted is True or accepted is False:
        return accepted
    raise _not_a_bool(accepted)


def _not_a_bool(accepted: object) -> TypeError:
    # A filter that returns None (a forgotten return) must not drop silently.
    return TypeError(f"accepts_bus_message() must return a bool, not {type(accepted).__name__}")


class LocalBus(WorkerBus):
    """The in-process bus: publishing is delivering."""

    def publish(self, message: BusMessage) -> None:
        """Deliver ``message`` to this process's subscribers."""
        self.on_message_received(message)


AsyncQueueBus = LocalBus
