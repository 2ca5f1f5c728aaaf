"""Redis pub/sub bus: workers in several processes or hosts share one channel.

:class:`RedisBus` publishes every non-local message on a Redis channel as the serializer's
bytes and delivers what it reads from that channel to its local subscribers. A process's
own messages reach its subscribers only through the Redis echo, so every process on the
channel sees one order. The client is coredis, which runs on anyio and therefore on Trio.

Resource handling
    Everything runs in the bus nursery (:meth:`WorkerBus.run`): before ``started()`` the
    bus enters the coredis client (reference counted: a client the application already
    entered in a parent task is shared, otherwise the bus owns its connection pool),
    subscribes, and starts two children, the *reader* (with a keepalive beside it) and
    the *publisher*. Stopping the bus cancels them; the reader closes its subscribed
    connection on the way out, which ends the subscription on the server, so nothing is
    left when ``run`` returns.

    :meth:`publish` is synchronous, like the rest of the send path, so it only queues the
    serialized bytes; the publisher sends the queue in pipelined batches, one round trip
    per batch, in send order. The queue is unbounded up to ``max_pending`` messages: when
    Redis is slow, batches simply grow; a warning is logged once the backlog passes
    ``backlog_warning``. While the subscription is down the publisher pauses and messages
    wait in the queue; past ``max_pending`` a new message is dropped, counted in
    :attr:`RedisBus.publish_dropped` and logged (Redis pub/sub loses messages for a
    disconnected subscriber anyway; a bound keeps an outage from exhausting memory).

Error handling
    * A payload that does not decode to a bus message is logged, counted in
      :attr:`RedisBus.decode_errors` and dropped; the reader goes on.
    * When the subscription's connection fails, or a PING on it goes unanswered for
      ``health_check_interval`` (a host that vanished without closing the socket), or
      SUBSCRIBE is not acknowledged in ``subscribe_timeout``, the bus logs it, counts it in
      :attr:`RedisBus.disconnects`, fires ``on_disconnected`` and resubscribes with capped
      exponential backoff (``reconnect_delay`` doubling up to ``max_reconnect_delay``);
      each recovery fires ``on_connected`` and counts in :attr:`RedisBus.resubscriptions`.
      Messages published on the channel while the bus was not subscribed are lost (that
      is Redis pub/sub).
    * A publish that fails, or gets no answer within ``publish_timeout``, is not retried,
      so a message is never delivered twice: its batch is counted in
      :attr:`RedisBus.publish_errors` and logged.
    * Failing to subscribe when the bus starts is an error: ``run`` raises it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from typing import Any

import anyio
import coredis
import trio
from coredis.exceptions import RedisError

from trio_pipe.backoff import reconnect_delays
from trio_pipe.bus.bus import WorkerBus
from trio_pipe.bus.messages import BusLocalMessage, BusMessage
from trio_pipe.bus.statistics import RedisBusStatistics
from trio_pipe.events import EventHandlerMixin
from trio_pipe.serializers.messages import JSONMessageSerializer, MessageSerializer
from trio_pipe.tracked import track
from trio_pipe.wakeup import Wakeup

__all__ = ["RedisBus", "reconnect_delays"]

logger = logging.getLogger(__name__)

# What a broken or unreachable Redis raises through coredis and anyio. Anything else that
# escapes the reader or the publisher is a bug and is allowed to stop the bus loudly.
_REDIS_FAILURES: tuple[type[Exception], ...] = (
    RedisError,
    OSError,  # includes TimeoutError (a subscription that was never acknowledged)
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


# Push-message kinds, as bytes or as str (a client made with decode_responses=True).
_SUBSCRIBE = frozenset({b"subscribe", "subscribe"})
_MESSAGE = frozenset({b"message", "message"})


def _is_redis_failure(exc: BaseException) -> bool:
    """True if ``exc`` (or every leaf of an exception group) is a Redis/transport failure."""
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(_REDIS_FAILURES)
        return matched is not None and rest is None
    return isinstance(exc, _REDIS_FAILURES)


def _describe(exc: BaseException) -> str:
    """The first leaf of an exception group, as ``Type: message``."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class RedisBus(EventHandlerMixin, WorkerBus):
    """A bus shared by every process subscribed to one Redis pub/sub channel.

    Args:
        redis: a ``coredis.Redis`` (or ``coredis.RedisCluster``) client. The bus enters it
            while running; enter it yourself, in a parent task, to share it with other code.
        serializer: encodes and decodes messages; defaults to ``JSONMessageSerializer``,
            whose bytes Pipecat 1.14's ``RedisBus`` reads and writes.
        channel: the pub/sub channel (Pipecat's default).
        max_pending: most messages waiting to be published; more are dropped and counted.
        reconnect_delay: first wait before resubscribing after the connection failed.
        max_reconnect_delay: cap of the doubling wait between attempts.
        publish_batch: most messages sent in one pipelined round trip.
        health_check_interval: seconds between PINGs on the subscribed connection; a PING
            unanswered for as long counts as a lost connection.
        subscribe_timeout: how long the server may take to acknowledge SUBSCRIBE.
        publish_timeout: how long one batch may wait for Redis before it counts as lost.
        backlog_warning: see :class:`WorkerBus`; also the publish-queue warning level.

    Events:
        ``on_connected(bus)``: subscribed (at start and after every recovery).
        ``on_disconnected(bus, error: str)``: the subscription's connection failed.
    """

    def __init__(
        self,
        *,
        redis: coredis.Redis[Any] | coredis.RedisCluster[Any],
        serializer: MessageSerializer | None = None,
        channel: str = "pipecat:bus",
        max_pending: int = 100_000,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
        publish_batch: int = 512,
        health_check_interval: float = 15.0,
        subscribe_timeout: float = 5.0,
        publish_timeout: float = 10.0,
        backlog_warning: int = 10_000,
    ) -> None:
        super().__init__(backlog_warning=backlog_warning)
        self._redis = redis
        self._serializer = serializer or JSONMessageSerializer()
        self._channel = channel
        self.max_pending = max_pending
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.publish_batch = publish_batch
        self.health_check_interval = health_check_interval
        self.subscribe_timeout = subscribe_timeout
        self.publish_timeout = publish_timeout

        self._pending: deque[bytes] = deque()
        self._pending_ready = Wakeup()
        self._pending_warned = False
        self._overflowing = False
        self._up = trio.Event()  # set while subscribed; replaced by a fresh one on loss

        self.published = 0
        """Messages handed to Redis."""
        self.received = 0
        """Messages read from the channel and delivered to local subscribers."""
        self.decode_errors = 0
        """Payloads on the channel that did not decode to a bus message (each was logged)."""
        self.publish_errors = 0
        """Messages lost because their publish failed (each batch was logged)."""
        self.publish_dropped = 0
        """Messages refused because ``max_pending`` were already waiting."""
        self.disconnects = 0
        """Times the subscription's connection failed."""
        self.resubscriptions = 0
        """Times the bus subscribed again after a failure."""
        track(self, "redis_bus")  # read by trio_pipe.metrics when active

        self._register_event_handler("on_connected")
        self._register_event_handler("on_disconnected")

    def __repr__(self) -> str:
        return f"RedisBus(channel={self._channel!r})"

    # --- properties ----------------------------------------------------------------------

    @property
    def channel(self) -> str:
        """The pub/sub channel."""
        return self._channel

    @property
    def serializer(self) -> MessageSerializer:
        """The message serializer."""
        return self._serializer

    @property
    def redis(self) -> coredis.Redis[Any] | coredis.RedisCluster[Any]:
        """The coredis client."""
        return self._redis

    @property
    def connected(self) -> bool:
        """True while the bus is subscribed to its channel."""
        return self._up.is_set()

    @property
    def pending(self) -> int:
        """Messages queued and not yet handed to Redis."""
        return len(self._pending)

    def statistics(self) -> RedisBusStatistics:
        """The local lanes, the publish queue (backlog, bound, drops) and the counters."""
        return RedisBusStatistics(
            subscribers=self._subscriber_statistics(),
            backlog_warning=self.backlog_warning,
            handler_errors=self.handler_errors,
            publish_backlog=len(self._pending),
            max_publish_backlog=self.max_pending,
            publish_dropped=self.publish_dropped,
            published=self.published,
            received=self.received,
            decode_errors=self.decode_errors,
            publish_errors=self.publish_errors,
            disconnects=self.disconnects,
            resubscriptions=self.resubscriptions,
        )

    # --- sending -------------------------------------------------------------------------

    def publish(self, message: BusMessage) -> None:
        """Queue ``message``'s bytes for the channel; it comes back to us via Redis.

        Raises the serializer's encode error at once for a message it cannot encode. A
        local message never leaves the process: it is delivered here and not published.
        """
        if isinstance(message, BusLocalMessage):
            self.on_message_received(message)
            return
        data = self._serializer.serialize(message)
        pending = self._pending
        if len(pending) >= self.max_pending:
            self.publish_dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.error(
                    "%r: %d messages wait for Redis; dropping new ones until it catches up",
                    self,
                    len(pending),
                )
            return
        pending.append(data)
        if len(pending) > self.backlog_warning and not self._pending_warned:
            self._pending_warned = True
            logger.warning("%r: over %d messages wait for Redis", self, self.backlog_warning)
        self._pending_ready.wake()

    # --- running -------------------------------------------------------------------------

    async def _start_transport(self, nursery: trio.Nursery) -> None:
        await nursery.start(self._run_redis)

    async def _run_redis(self, *, task_status: trio.TaskStatus[None]) -> None:
        self._up = trio.Event()
        try:
            # The pool, not the client: anyio refuses to enter one client twice, while the
            # pool counts entries, so a client the application entered is shared.
            async with self._redis.connection_pool, trio.open_nursery() as nursery:
                with self._event_children().attached(nursery):
                    await nursery.start(self._reader)
                    nursery.start_soon(self._publisher)
                    task_status.started()
                    await trio.sleep_forever()
        finally:
            self._up = trio.Event()  # not connected once stopped

    async def _reader(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Subscribe, deliver, and resubscribe with backoff whenever the connection fails."""
        delays: Iterator[float] | None = None
        first = True
        while True:
            try:
                await self._subscription(first, task_status)
            except Exception as exc:
                if not self._up.is_set() and first:
                    logger.error("%r could not subscribe: %s", self, _describe(exc))
                    raise
                if not _is_redis_failure(exc):
                    raise
                error: BaseException = exc
            else:  # pragma: no cover - _subscription only returns by raising
                error = ConnectionError("subscription ended")
            first = False
            if delays is None or self._up.is_set():
                delays = reconnect_delays(self.reconnect_delay, self.max_reconnect_delay)
                self._lost(error)
            else:
                logger.info("%r: resubscribing failed: %s", self, _describe(error))
            await trio.sleep(next(delays))

    async def _subscription(self, first: bool, task_status: trio.TaskStatus[None]) -> None:
        """One subscribed connection, from SUBSCRIBE until it fails.

        Works on the connection itself rather than through coredis' ``PubSub``: that saves a
        task hop and a cancel scope per message, which is most of the receive cost.
        """
        async with self._redis.connection_pool.acquire() as connection:
            try:
                # Closed here rather than by the garbage collector, which would finish it in
                # a task outside our nursery.
                async with aclosing(connection.push_messages) as pushes:
                    await self._read(connection, pushes, first, task_status)
            finally:
                # Closing the connection ends the subscription on the server. It is
                # synchronous, so it also works while we are being cancelled, and it keeps a
                # subscribed connection out of the client's pool.
                connection.invalidate()

    async def _read(
        self,
        connection: Any,
        pushes: AsyncGenerator[Any, None],
        first: bool,
        task_status: trio.TaskStatus[None],
    ) -> None:
        """SUBSCRIBE, wait for the acknowledgement, then deliver until the connection fails."""
        connection.send_command(b"SUBSCRIBE", self._channel)
        with trio.move_on_after(self.subscribe_timeout) as scope:
            while (await anext(pushes))[0] not in _SUBSCRIBE:
                pass
        if scope.cancelled_caught:
            raise TimeoutError(f"SUBSCRIBE not acknowledged in {self.subscribe_timeout}s")
        self._subscribed(first, task_status)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keepalive, connection)
            async for push in pushes:
                if push[0] in _MESSAGE:
                    self._deliver(push[2])
            raise ConnectionError("the server ended the subscription")

    async def _keepalive(self, connection: Any) -> None:
        """PING now and then: a host that vanished without closing the socket is noticed."""
        interval = self.health_check_interval
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(interval) as scope:
                await connection.create_request(b"PING")
            if scope.cancelled_caught:
                raise TimeoutError(f"no answer to PING within {interval}s")

    def _subscribed(self, first: bool, task_status: trio.TaskStatus[None]) -> None:
        self._up.set()
        if first:
            logger.debug("%r subscribed", self)
            task_status.started()
        else:
            self.resubscriptions += 1
            logger.warning("%r subscribed again; messages sent meanwhile were lost", self)
        self._call_event_handler("on_connected")

    def _lost(self, error: BaseException) -> None:
        if self._up.is_set():
            self._up = trio.Event()  # the publisher pauses on the fresh event
        self.disconnects += 1
        text = _describe(error)
        logger.warning("%r lost its Redis subscription (%s); resubscribing", self, text)
        self._call_event_handler("on_disconnected", text)

    def _deliver(self, data: bytes | str) -> None:
        """Decode one payload from the channel and queue it for the local subscribers."""
        if isinstance(data, str):  # a client made with decode_responses=True
            data = data.encode()
        try:
            message = self._serializer.deserialize(data)
        except Exception as exc:
            self._drop(data, f"{type(exc).__name__}: {exc}")
            return
        if not isinstance(message, BusMessage) or isinstance(message, BusLocalMessage):
            self._drop(data, f"decoded to {type(message).__name__}")
            return
        self.received += 1
        self.on_message_received(message)

    def _drop(self, data: bytes, reason: str) -> None:
        self.decode_errors += 1
        logger.warning("%r dropped a payload (%s): %r", self, reason, data[:200])

    async def _publisher(self) -> None:
        """Send the queue in order, a pipelined batch per round trip."""
        pending = self._pending
        while True:
            while not pending:
                self._overflowing = self._pending_warned = False
                await self._pending_ready.park()
            await self._up.wait()  # paused while the subscription is down
            batch = [pending.popleft() for _ in range(min(len(pending), self.publish_batch))]
            try:
                # A host that vanished would hold the batch forever: bound it. Cancelling a
                # pipeline makes coredis drop that connection, so the next batch starts fresh.
                with trio.move_on_after(self.publish_timeout) as scope:
                    await self._send(batch)
                if scope.cancelled_caught:
                    raise TimeoutError(f"no answer within {self.publish_timeout}s")
            except Exception as exc:
                if not _is_redis_failure(exc):
                    raise
                # Not retried: part of the batch may have reached Redis, and a message
                # must never arrive twice.
                self.publish_errors += len(batch)
                logger.warning(
                    "%r lost %d messages: publish failed (%s)", self, len(batch), _describe(exc)
                )
                await trio.sleep(self.reconnect_delay)  # do not spin against a broken server
            else:
                self.published += len(batch)

    async def _send(self, batch: list[bytes]) -> None:
        # Always a pipeline, even for one message: coredis retries plain commands after a
        # connection error, which could publish a message twice; pipelines are not retried.
        channel = self._channel
        async with self._redis.pipeline(transaction=False) as pipe:
            for data in batch:
                pipe.publish(channel, data)
