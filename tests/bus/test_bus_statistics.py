"""WorkerBus.statistics(): the lanes' backlog, like trio.MemoryChannel.statistics()."""

from __future__ import annotations

import trio
import trio.testing

from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import (
    BusCancelMessage,
    BusEndMessage,
    BusMessage,
    BusSystemMessage,
    BusTTSSpeakMessage,
)


class Blocking:
    def __init__(self, name: str) -> None:
        self.name = name
        self.release = trio.Event()
        self.seen: list[BusMessage] = []

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message)
        if not isinstance(message, BusSystemMessage):  # data waits; system goes through
            await self.release.wait()


async def test_statistics_show_each_lane_backlog_and_drain_to_zero(nursery):
    bus = LocalBus(backlog_warning=50)
    slow, idle = Blocking("slow"), Blocking("idle")
    idle.release.set()
    bus.subscribe(slow)
    bus.subscribe(idle)
    # Before run: everything waits, per lane.
    for i in range(3):
        bus.send(BusTTSSpeakMessage(source="t", text=str(i)))
    bus.send(BusCancelMessage(source="t"))
    stats = bus.statistics()
    assert [(s.name, s.system_backlog, s.data_backlog) for s in stats.subscribers] == [
        ("slow", 1, 3),
        ("idle", 1, 3),
    ]
    assert stats.backlog == 8 and stats.largest_backlog == 4
    assert stats.backlog_warning == 50 and stats.handler_errors == 0
    with trio.fail_after(5):
        await nursery.start(bus.run)
        await trio.testing.wait_all_tasks_blocked()
        # The slow subscriber took its cancel and is stuck in its first data message.
        by_name = {s.name: s for s in bus.statistics().subscribers}
        assert by_name["idle"].backlog == 0
        assert by_name["slow"].system_backlog == 0 and by_name["slow"].data_backlog == 2
        slow.release.set()
        await trio.testing.wait_all_tasks_blocked()
    assert bus.statistics().backlog == 0 and len(slow.seen) == 4


def test_statistics_are_a_frozen_snapshot():
    bus = LocalBus()
    bus.subscribe(Blocking("a"))
    before = bus.statistics()
    bus.send(BusEndMessage(source="t"))
    assert before.backlog == 0 and bus.statistics().backlog == 1


async def test_backlog_counts_what_waits_behind_the_message_being_handled(nursery):
    bus = LocalBus()
    slow = Blocking("slow")
    bus.subscribe(slow)
    with trio.fail_after(5):
        await nursery.start(bus.run)
        assert bus.backlog("slow") == 0 and bus.backlog("nobody") == 0
        for i in range(3):
            bus.send(BusTTSSpeakMessage(source="t", text=str(i)))
        bus.send(BusCancelMessage(source="t"))
        assert bus.backlog("slow") == 4  # queued, nothing dispatched yet
        await trio.testing.wait_all_tasks_blocked()
        # The cancel went first; the handler holds message 0; two wait behind it.
        assert bus.backlog("slow") == 2
        slow.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert bus.backlog("slow") == 0
