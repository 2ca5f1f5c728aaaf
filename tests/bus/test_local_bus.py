"""LocalBus delivery rules (spec bus-workers-proxy §2, checks B1–B9)."""

from __future__ import annotations

import trio
import trio.testing

from trio_pipe.bus.bus import LocalBus, WorkerBus
from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusJobCancelMessage,
    BusMessage,
)


class Recorder:
    def __init__(self, name: str, *, block_on: str | None = None, raise_on=()) -> None:
        self.name = name
        self.seen: list[BusMessage] = []
        self.accept = lambda m: True
        self.block_on = block_on
        self.release = trio.Event()
        self.raise_on = set(raise_on)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return self.accept(message)

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message)
        if getattr(message, "reason", None) in self.raise_on:
            raise RuntimeError(f"boom on {message.reason}")
        if self.block_on is not None and getattr(message, "reason", None) == self.block_on:
            await self.release.wait()


def end(reason: str) -> BusEndMessage:
    return BusEndMessage(source="t", reason=reason)


def reasons(sub: Recorder) -> list[str | None]:
    return [getattr(m, "reason", None) for m in sub.seen]


async def test_b1_every_subscriber_gets_the_same_object_in_order(nursery):
    bus = LocalBus()
    a, b = Recorder("a"), Recorder("b")
    bus.subscribe(a)
    bus.subscribe(b)
    await nursery.start(bus.run)
    sent = [end(str(i)) for i in range(5)]
    for m in sent:
        bus.send(m)
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(a) == ["0", "1", "2", "3", "4"]
    assert all(x is y for x, y in zip(a.seen, sent, strict=True))
    assert all(x is y for x, y in zip(b.seen, sent, strict=True))


async def test_b2_queued_system_messages_go_first(nursery):
    bus = LocalBus()
    sub = Recorder("s")
    bus.subscribe(sub)
    bus.send(end("d1"))
    bus.send(end("d2"))
    bus.send(BusCancelMessage(source="t", reason="c1"))
    bus.send(end("d3"))
    bus.send(BusCancelWorkerMessage(source="t", reason="c2"))
    await nursery.start(bus.run)
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(sub) == ["c1", "c2", "d1", "d2", "d3"]


async def test_b3_system_message_handled_while_data_handler_blocked(nursery):
    bus = LocalBus()
    sub = Recorder("s", block_on="stuck")
    bus.subscribe(sub)
    await nursery.start(bus.run)
    bus.send(end("stuck"))
    bus.send(end("after"))
    await trio.testing.wait_all_tasks_blocked()
    bus.send(BusJobCancelMessage(source="t", job_id="j", reason="cancel"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(sub) == ["stuck", "cancel"]
    sub.release.set()
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(sub) == ["stuck", "cancel", "after"]


async def test_b4_slow_subscriber_does_not_delay_another(nursery):
    bus = LocalBus()
    slow, fast = Recorder("slow", block_on="x"), Recorder("fast")
    bus.subscribe(slow)
    bus.subscribe(fast)
    await nursery.start(bus.run)
    bus.send(end("x"))
    bus.send(end("y"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(fast) == ["x", "y"]
    assert reasons(slow) == ["x"]


async def test_b5_raising_subscriber_keeps_its_dispatch(nursery):
    bus = LocalBus()
    sub = Recorder("s", raise_on={"bad-data", "bad-system"})
    bus.subscribe(sub)
    await nursery.start(bus.run)
    bus.send(end("bad-data"))
    bus.send(end("ok-data"))
    bus.send(BusCancelMessage(source="t", reason="bad-system"))
    bus.send(BusCancelMessage(source="t", reason="ok-system"))
    await trio.testing.wait_all_tasks_blocked()
    assert set(reasons(sub)) == {"bad-data", "ok-data", "bad-system", "ok-system"}
    assert bus.handler_errors == 2


async def test_b6_accepts_bus_message_drops_for_that_subscriber_only(nursery):
    bus = LocalBus()
    picky, other = Recorder("picky"), Recorder("other")
    picky.accept = lambda m: m.reason != "no"
    bus.subscribe(picky)
    bus.subscribe(other)
    await nursery.start(bus.run)
    bus.send(end("no"))
    bus.send(end("yes"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(picky) == ["yes"]
    assert reasons(other) == ["no", "yes"]


async def test_b7_unsubscribe_and_duplicate_names(nursery):
    bus = LocalBus()
    first, twin = Recorder("same"), Recorder("same")
    bus.subscribe(first)
    bus.subscribe(twin)
    await nursery.start(bus.run)
    bus.send(end("1"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(first) == ["1"] and twin.seen == []
    bus.unsubscribe(first)
    bus.send(end("2"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(first) == ["1"]


class NetworkBus(WorkerBus):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[BusMessage] = []

    def publish(self, message: BusMessage) -> None:
        self.published.append(message)


async def test_b8_local_messages_never_reach_publish(nursery):
    bus = NetworkBus()
    sub = Recorder("s")
    bus.subscribe(sub)
    await nursery.start(bus.run)
    add = BusAddWorkerMessage(source="parent", worker=object())
    bus.send(add)
    bus.send(end("remote"))
    await trio.testing.wait_all_tasks_blocked()
    assert sub.seen == [add]
    assert [m.reason for m in bus.published] == ["remote"]


async def test_b9_nothing_delivered_while_stopped_and_no_dispatcher_left(live_tasks):
    bus = LocalBus()
    sub = Recorder("s")
    bus.subscribe(sub)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        nursery.cancel_scope.cancel()
    bus.send(end("queued"))
    bus.send(BusCancelMessage(source="t", reason="sys"))
    await trio.testing.wait_all_tasks_blocked()
    assert sub.seen == []
    before = live_tasks()
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await trio.testing.wait_all_tasks_blocked()
        assert reasons(sub) == ["sys", "queued"]
        nursery.cancel_scope.cancel()
    assert live_tasks() == before


async def test_subscribe_while_running_starts_dispatch(nursery):
    bus = LocalBus()
    await nursery.start(bus.run)
    late = Recorder("late")
    bus.subscribe(late)
    bus.send(end("hi"))
    await trio.testing.wait_all_tasks_blocked()
    assert reasons(late) == ["hi"]
