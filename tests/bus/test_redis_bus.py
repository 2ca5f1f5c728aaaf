"""RedisBus against a real redis-server (spec §6, checks X1-X4, plus reconnection)."""

from __future__ import annotations

import itertools
import math
import random
import signal

import attrs
import coredis
import pytest
import trio

from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusJobRequestMessage,
    BusJobUpdateMessage,
    BusMessage,
)
from trio_pipe.bus.redis import RedisBus, reconnect_delays
from trio_pipe.serializers.errors import MessageEncodeError
from trio_pipe.serializers.messages import JSONMessageSerializer

# Generous safety nets against a hang; no test asserts how fast anything is.
LIMIT = 20


class Collector:
    """A subscriber that hands every message to the test through a memory channel."""

    def __init__(self, name: str = "collector") -> None:
        self.name = name
        self._send, self._receive = trio.open_memory_channel[BusMessage](math.inf)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        self._send.send_nowait(message)

    async def next(self) -> BusMessage:
        with trio.fail_after(LIMIT):
            return await self._receive.receive()

    def empty(self) -> bool:
        return self._receive.statistics().current_buffer_used == 0


class Spy:
    """A raw coredis subscriber on the channel: sees exactly what was published."""

    def __init__(self, client: coredis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.payloads: list[bytes] = []
        self.arrived = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            task_status.started()
            async for item in pubsub:
                self.payloads.append(item["data"])
                self.arrived.set()


def client_for(server) -> coredis.Redis:
    return coredis.Redis(host="127.0.0.1", port=server.port)


async def numsub(client: coredis.Redis, channel: str) -> int:
    return (await client.pubsub_numsub(channel)).get(channel.encode(), 0)


async def wait_numsub(client: coredis.Redis, channel: str, expected: int) -> None:
    # The server handles a closed connection asynchronously: poll until it did.
    with trio.fail_after(LIMIT):
        while await numsub(client, channel) != expected:  # noqa: ASYNC110
            await trio.sleep(0.01)


def job_request(i: int = 0, **kwargs) -> BusJobRequestMessage:
    return BusJobRequestMessage(source="a", target="b", job_id=f"j-{i}", **kwargs)


def same_message(a: BusMessage, b: BusMessage) -> bool:
    """Equal fields, ``id`` and ``name`` included (they travel on the wire)."""
    return type(a) is type(b) and attrs.asdict(a, recurse=False) == attrs.asdict(b, recurse=False)


# --- X1: published once, as the serializer's bytes; local messages stay local ----------


@pytest.mark.parametrize("channel", ["pipecat:bus", "session-42"])
async def test_message_is_published_once_as_serializer_bytes(redis_server, channel):
    serializer = JSONMessageSerializer()
    bus = RedisBus(redis=client_for(redis_server), serializer=serializer, channel=channel)
    assert bus.channel == channel
    async with client_for(redis_server) as raw, trio.open_nursery() as nursery:
        spy = Spy(raw, channel)
        await nursery.start(spy.run)
        await nursery.start(bus.run)
        message = job_request(payload={"query": "café"})
        bus.send(message)
        with trio.fail_after(LIMIT):
            await spy.arrived.wait()
        # The spy would see a second copy right behind the first: let Redis catch up.
        bus.send(job_request(1))
        with trio.fail_after(LIMIT):
            while len(spy.payloads) < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert spy.payloads[0] == serializer.serialize(message)
        assert b'"job_id":"j-0"' in spy.payloads[0] and b'"job_id":"j-1"' in spy.payloads[1]
        assert bus.published == 2
        nursery.cancel_scope.cancel()


async def test_local_message_is_delivered_locally_and_never_published(redis_server):
    bus = RedisBus(redis=client_for(redis_server))
    collector = Collector()
    bus.subscribe(collector)
    async with client_for(redis_server) as raw, trio.open_nursery() as nursery:
        spy = Spy(raw, bus.channel)
        await nursery.start(spy.run)
        await nursery.start(bus.run)
        local = BusAddWorkerMessage(source="parent", worker=object())
        bus.send(local)
        assert await collector.next() is local
        bus.publish(local)  # even asked directly, a local message does not leave
        assert await collector.next() is local
        # A marker message published after them arrives alone: nothing local went out.
        bus.send(job_request())
        with trio.fail_after(LIMIT):
            await spy.arrived.wait()
        assert len(spy.payloads) == 1 and b"BusJobRequestMessage" in spy.payloads[0]
        assert bus.published == 1
        nursery.cancel_scope.cancel()


def test_unencodable_message_raises_at_the_call_site():
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=1))
    with pytest.raises(MessageEncodeError, match="payload"):
        bus.send(job_request(payload={"tags": {"a", "b"}}))
    assert bus.pending == 0


# --- X2: delivery through the echo, between processes on one channel -------------------


async def test_two_buses_on_one_channel_deliver_to_each_others_subscribers(redis_server):
    bus_a = RedisBus(redis=client_for(redis_server), channel="shared")
    bus_b = RedisBus(redis=client_for(redis_server), channel="shared")
    bus_other = RedisBus(redis=client_for(redis_server), channel="elsewhere")
    on_a, on_a2, on_b, on_other = Collector("a"), Collector("a2"), Collector("b"), Collector()
    bus_a.subscribe(on_a)
    bus_a.subscribe(on_a2)
    bus_b.subscribe(on_b)
    bus_other.subscribe(on_other)
    async with trio.open_nursery() as nursery:
        for bus in (bus_a, bus_b, bus_other):
            await nursery.start(bus.run)

        from_a = job_request(1, job_name="research", payload={"tags": ["x", None]})
        bus_a.send(from_a)
        for collector in (on_a, on_a2, on_b):
            got = await collector.next()
            # Every subscriber, the sender's own included, gets an equal decoded copy.
            assert same_message(got, from_a) and got is not from_a

        from_b = BusCancelMessage(source="b", reason="bye")
        bus_b.send(from_b)
        for collector in (on_a, on_a2, on_b):
            assert same_message(await collector.next(), from_b)

        assert on_other.empty()  # another channel hears nothing
        assert bus_a.received == 2 and bus_b.received == 2 and bus_other.received == 0
        nursery.cancel_scope.cancel()


async def test_a_burst_arrives_complete_and_in_send_order(redis_server):
    sender = RedisBus(redis=client_for(redis_server), publish_batch=16)
    receiver = RedisBus(redis=client_for(redis_server))
    collector = Collector()
    receiver.subscribe(collector)
    async with trio.open_nursery() as nursery:
        await nursery.start(sender.run)
        await nursery.start(receiver.run)
        for i in range(500):  # far more than one batch, sent without yielding
            sender.send(BusJobUpdateMessage(source="a", job_id="j", update={"i": i}))
        assert [(await collector.next()).update["i"] for _ in range(500)] == list(range(500))
        nursery.cancel_scope.cancel()


# --- X3: a bad payload is dropped and counted; the reader goes on ----------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xffnot json",
        b'{"__type__":"os.system","__data__":"x"}',  # unknown tag: never imported
        b'{"hello":"world"}',  # not a tagged message
        b'{"__type__":"pipecat.bus.messages.BusJobRequestMessage","__data__":{"source":"a"}}',
    ],
)
async def test_garbage_payload_is_dropped_counted_and_the_next_message_arrives(
    redis_server, garbage
):
    bus = RedisBus(redis=client_for(redis_server))
    collector = Collector()
    bus.subscribe(collector)
    async with client_for(redis_server) as raw, trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        assert await raw.publish(bus.channel, garbage) == 1
        good = job_request(7)
        await raw.publish(bus.channel, JSONMessageSerializer().serialize(good))
        assert same_message(await collector.next(), good)
        assert bus.decode_errors == 1 and bus.received == 1
        assert collector.empty()
        nursery.cancel_scope.cancel()


# --- X4 and leftovers: stopping ---------------------------------------------------------


async def test_stop_leaves_no_task_and_unsubscribes(redis_server, live_tasks):
    bus = RedisBus(redis=client_for(redis_server), channel="stopping")
    async with client_for(redis_server) as raw:
        assert await numsub(raw, "stopping") == 0
        before = live_tasks()  # the test's own client and its connection included
        for _ in range(2):  # it runs again after a stop
            async with trio.open_nursery() as nursery:
                await nursery.start(bus.run)
                assert bus.connected
                assert await numsub(raw, "stopping") == 1
                nursery.cancel_scope.cancel()
            # The bus entered the client itself, so its whole pool is gone too.
            assert live_tasks() == before
            await wait_numsub(raw, "stopping", 0)
            assert not bus.connected


async def pubsub_clients(client: coredis.Redis) -> tuple:
    return await client.client_list(type_=coredis.PureToken.PUBSUB)


async def test_stop_unsubscribes_when_the_application_owns_the_client(redis_server):
    client = client_for(redis_server)
    async with client:  # entered by the application: the bus shares its pool
        bus = RedisBus(redis=client, channel="shared-client")
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run)
            bus.send(job_request())
            with trio.fail_after(LIMIT):
                while bus.received < 1:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            assert len(await pubsub_clients(client)) == 1
            nursery.cancel_scope.cancel()
        await wait_numsub(client, "shared-client", 0)
        # The subscribed connection was closed, not handed back to the application's pool.
        assert await pubsub_clients(client) == ()
        # The client still works for the application after the bus stopped.
        assert await client.publish("shared-client", b"x") == 0


async def test_messages_sent_before_run_are_published_when_it_runs(redis_server):
    bus = RedisBus(redis=client_for(redis_server), max_pending=3)
    collector = Collector()
    bus.subscribe(collector)
    for i in range(5):
        bus.send(job_request(i))
    assert bus.pending == 3 and bus.publish_dropped == 2
    stats = bus.statistics()
    assert (stats.publish_backlog, stats.max_publish_backlog, stats.publish_dropped) == (3, 3, 2)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        assert [(await collector.next()).job_id for _ in range(3)] == ["j-0", "j-1", "j-2"]
        bus.send(job_request(9))  # the queue has room again
        assert (await collector.next()).job_id == "j-9"
        assert bus.publish_dropped == 2
        nursery.cancel_scope.cancel()


async def test_a_stalled_redis_never_blocks_send_and_the_queue_flows_when_it_resumes(
    redis_server,
):
    bus = RedisBus(redis=client_for(redis_server), publish_batch=8)
    collector = Collector()
    bus.subscribe(collector)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        redis_server.proc.send_signal(signal.SIGSTOP)  # alive but answering nothing
        try:
            for i in range(100):
                bus.send(job_request(i))  # synchronous: returns at once, queues
            await trio.testing.wait_all_tasks_blocked()
            # One batch is stuck in flight; the rest waits, in order, nothing dropped.
            assert bus.pending == 100 - 8 and bus.published == 0
            assert bus.publish_dropped == 0 and collector.empty()
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        got = [(await collector.next()).job_id for _ in range(100)]
        assert got == [f"j-{i}" for i in range(100)]
        assert bus.published == 100 and bus.publish_errors == 0 and bus.disconnects == 0
        nursery.cancel_scope.cancel()


async def test_a_host_that_stops_answering_is_noticed_and_the_bus_comes_back(redis_server):
    # SIGSTOP keeps the TCP connection open but answers nothing: a vanished host, as far
    # as the client can tell. Only the keepalive PING and the publish timeout can notice.
    bus = RedisBus(
        redis=client_for(redis_server),
        health_check_interval=0.2,
        publish_timeout=0.3,
        reconnect_delay=0.05,
        max_reconnect_delay=0.1,
    )
    collector = Collector()
    bus.subscribe(collector)
    lost, back = trio.Event(), trio.Event()
    errors: list[str] = []

    def disconnected(b: RedisBus, error: str) -> None:
        errors.append(error)
        lost.set()

    bus.add_event_handler("on_disconnected", disconnected)
    bus.add_event_handler("on_connected", lambda b: b.resubscriptions and back.set())
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        redis_server.proc.send_signal(signal.SIGSTOP)
        try:
            bus.send(job_request(1))  # goes out, but no answer comes
            with trio.fail_after(LIMIT):
                await lost.wait()
                while bus.publish_errors < 1:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            assert "PING" in errors[0] and bus.disconnects == 1
            assert bus.publish_errors == 1  # its fate is unknown: counted as lost
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        with trio.fail_after(LIMIT):
            await back.wait()
        bus.send(job_request(2))
        while (await collector.next()).job_id != "j-2":
            pass  # j-1 may or may not have been delivered: Redis got it before it stopped
        nursery.cancel_scope.cancel()


async def test_run_raises_when_redis_is_unreachable(redis_server):
    port = redis_server.port
    redis_server.kill()
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=port))
    with pytest.raises(BaseException) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run)
    assert info.group_contains(coredis.exceptions.ConnectionError) or isinstance(
        info.value, coredis.exceptions.ConnectionError
    )
    assert not bus.connected


# --- reconnection -----------------------------------------------------------------------


async def test_bus_resubscribes_after_redis_restarts_and_delivers_again(redis_server):
    bus = RedisBus(redis=client_for(redis_server), reconnect_delay=0.05, max_reconnect_delay=0.2)
    peer = RedisBus(redis=client_for(redis_server), reconnect_delay=0.05, max_reconnect_delay=0.2)
    collector, peer_collector = Collector(), Collector("peer")
    bus.subscribe(collector)
    peer.subscribe(peer_collector)
    events: list[tuple[str, object]] = []
    lost, back = trio.Event(), trio.Event()

    @bus.event_handler("on_disconnected")
    async def disconnected(b, error):
        events.append(("disconnected", error))
        lost.set()

    @bus.event_handler("on_connected")
    async def connected(b):
        events.append(("connected", None))
        if b.resubscriptions:
            back.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await nursery.start(peer.run)
        bus.send(job_request(1))
        assert (await peer_collector.next()).job_id == "j-1"
        assert (await collector.next()).job_id == "j-1"

        redis_server.kill()
        with trio.fail_after(LIMIT):
            await lost.wait()
        assert not bus.connected and bus.disconnects == 1
        # While Redis is down, messages wait instead of being lost.
        bus.send(job_request(2))
        await trio.testing.wait_all_tasks_blocked()
        assert bus.pending == 1 and bus.publish_errors == 0

        await redis_server.restart()
        with trio.fail_after(LIMIT):
            await back.wait()
            while not peer.connected:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert bus.connected and bus.resubscriptions == 1
        # The queued message went out once the bus was back (the peer may have missed it
        # if it resubscribed later: that is pub/sub); new traffic reaches everyone.
        assert (await collector.next()).job_id == "j-2"
        bus.send(job_request(3))
        peer.send(job_request(4))
        assert [(await collector.next()).job_id for _ in range(2)] == ["j-3", "j-4"]
        while (got := await peer_collector.next()).job_id != "j-3":
            assert got.job_id == "j-2"
        assert (await peer_collector.next()).job_id == "j-4"
        assert events[0] == ("connected", None) and events[1][0] == "disconnected"
        assert "Connection" in str(events[1][1])
        nursery.cancel_scope.cancel()


# --- pure logic -------------------------------------------------------------------------


def test_reconnect_delays_double_up_to_the_cap_with_jitter():
    delays = list(itertools.islice(reconnect_delays(0.1, 1.0, rng=random.Random(1)), 8))
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for delay, base in zip(delays, bases, strict=True):
        assert 0.75 * base <= delay <= base
