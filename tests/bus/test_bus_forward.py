"""The optional ``bus_forward`` of a subscriber: taken at send time while it is idle."""

from __future__ import annotations

import trio
import trio.testing

from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import BusMessage, BusTTSSpeakMessage

LIMIT = 5


def speak(text: str) -> BusTTSSpeakMessage:
    return BusTTSSpeakMessage(text=text, source="voice", target="worker")


class Forwarder:
    """Forwards what ``take`` allows; handles the rest in ``on_bus_message``."""

    def __init__(self, take: bool = True) -> None:
        self.name = "proxy"
        self.take = take
        self.forwarded: list[str] = []
        self.handled: list[str] = []
        self.accepting = True
        self.hold: trio.Event | None = None
        self.bus_forward = self._forward

    def _forward(self, message: BusMessage) -> bool:
        if self.take:
            self.forwarded.append(message.text)
        return self.take

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return self.accepting

    async def on_bus_message(self, message: BusMessage) -> None:
        self.handled.append(message.text)
        if self.hold is not None:
            await self.hold.wait()


async def started(nursery: trio.Nursery, *subscribers: object) -> LocalBus:
    bus = LocalBus()
    for subscriber in subscribers:
        bus.subscribe(subscriber)  # type: ignore[arg-type]  # duck-typed subscribers
    await nursery.start(bus.run)
    return bus


async def test_an_idle_subscriber_takes_a_message_in_the_senders_step(nursery):
    proxy = Forwarder()
    bus = await started(nursery, proxy)
    bus.send(speak("a"))
    assert proxy.forwarded == ["a"]  # before any checkpoint: no task switch
    await trio.testing.wait_all_tasks_blocked()
    assert proxy.handled == []


async def test_a_message_it_does_not_take_is_queued_and_handled(nursery):
    proxy = Forwarder(take=False)
    bus = await started(nursery, proxy)
    bus.send(speak("a"))
    await trio.testing.wait_all_tasks_blocked()
    assert proxy.forwarded == [] and proxy.handled == ["a"]


async def test_nothing_overtakes_a_queued_message_or_one_being_handled(nursery):
    proxy = Forwarder(take=False)
    bus = await started(nursery, proxy)
    proxy.hold = trio.Event()
    with trio.fail_after(LIMIT):
        bus.send(speak("a"))  # queued: not taken
        proxy.take = True
        bus.send(speak("b"))  # "a" is still queued: "b" queues behind it
        await trio.testing.wait_all_tasks_blocked()
        assert proxy.handled == ["a"]  # being handled (held)
        bus.send(speak("c"))  # the handler is still running: queued
        proxy.hold.set()
        await trio.testing.wait_all_tasks_blocked()
        assert proxy.handled == ["a", "b", "c"] and proxy.forwarded == []
        bus.send(speak("d"))  # idle again: taken at once
        assert proxy.forwarded == ["d"]


async def test_a_message_the_subscriber_does_not_accept_is_neither_taken_nor_handled(nursery):
    proxy = Forwarder()
    other = Forwarder(take=False)
    other.name = "other"
    bus = await started(nursery, proxy, other)
    proxy.accepting = False
    bus.send(speak("a"))
    await trio.testing.wait_all_tasks_blocked()
    assert proxy.forwarded == [] and proxy.handled == []
    assert other.handled == ["a"]  # the others are not affected


async def test_a_forward_that_raises_is_counted_and_the_sender_goes_on(nursery, caplog):
    proxy = Forwarder()
    other = Forwarder(take=False)
    other.name = "other"

    def broken(message: BusMessage) -> bool:
        raise RuntimeError("boom")

    proxy.bus_forward = broken
    bus = await started(nursery, proxy, other)
    bus.send(speak("a"))  # does not raise here
    await trio.testing.wait_all_tasks_blocked()
    assert bus.handler_errors == 1 and "failed to forward" in caplog.text
    assert proxy.handled == [] and other.handled == ["a"]


async def test_a_stopped_bus_keeps_messages_for_a_forwarder_queued(nursery):
    proxy = Forwarder()
    bus = LocalBus()
    bus.subscribe(proxy)
    bus.send(speak("early"))  # not running yet: queued, delivered once it runs
    assert proxy.forwarded == []
    await nursery.start(bus.run)
    await trio.testing.wait_all_tasks_blocked()
    assert proxy.handled == ["early"] and proxy.forwarded == []
    bus.send(speak("late"))
    assert proxy.forwarded == ["late"]
