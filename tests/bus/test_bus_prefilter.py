"""The optional ``bus_prefilter`` of a subscriber (asked at send time)."""

from __future__ import annotations

import trio.testing

from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import BusEndMessage, BusMessage


class Filtered:
    def __init__(self, name: str, keep: str | None) -> None:
        self.name = name
        self.seen: list[str | None] = []
        self.asked = 0
        if keep is not None:
            self.bus_prefilter = lambda m: m.reason == keep

    def accepts_bus_message(self, message: BusMessage) -> bool:
        self.asked += 1
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message.reason)


async def test_prefilter_skips_queueing_for_that_subscriber_only(nursery):
    bus = LocalBus()
    picky, plain = Filtered("picky", keep="b"), Filtered("plain", keep=None)
    bus.subscribe(picky)
    bus.subscribe(plain)
    await nursery.start(bus.run)
    for reason in "abc":
        bus.send(BusEndMessage(reason=reason, source="t"))
    await trio.testing.wait_all_tasks_blocked()
    assert picky.seen == ["b"] and picky.asked == 1  # never queued, never asked
    assert plain.seen == ["a", "b", "c"]
