"""BusSubscriber as Pipecat's base class, filters that must return a bool, and the
``trio_pipe.bus`` package exports (issue 13, item 1)."""

from __future__ import annotations

import ast
import logging
import pathlib

import trio
import trio.testing

import trio_pipe.bus
from trio_pipe.bus import BusEndMessage, BusMessage, BusSubscriber, LocalBus

PIPECAT_BUS_INIT = (
    pathlib.Path(__file__).resolve().parents[2]
    / ".venv-pipecat/lib/python3.11/site-packages/pipecat/bus/__init__.py"
)


class PipecatStyle(BusSubscriber):
    """Written as in Pipecat's docs: only ``name`` and ``on_bus_message``."""

    def __init__(self) -> None:
        self.seen: list[BusMessage] = []

    @property
    def name(self) -> str:
        return "pipecat-style"

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message)


class ForgetsToReturn(PipecatStyle):
    def accepts_bus_message(self, message: BusMessage):  # type: ignore[override]
        self.seen.append(message)  # ...and no return: None


async def test_a_subclass_overriding_name_and_handler_receives_every_message(nursery):
    bus = LocalBus()
    sub = PipecatStyle()
    bus.subscribe(sub)
    await nursery.start(bus.run)
    sent = [BusEndMessage(source="t", reason=str(i)) for i in range(3)]
    with trio.fail_after(5):
        for message in sent:
            bus.send(message)
        await trio.testing.wait_all_tasks_blocked()
    assert sub.seen == sent
    assert bus.handler_errors == 0


async def test_a_filter_returning_a_non_bool_is_an_error_not_a_silent_drop(nursery, caplog):
    bus = LocalBus()
    sub = ForgetsToReturn()
    bus.subscribe(sub)
    await nursery.start(bus.run)
    with caplog.at_level(logging.ERROR, logger="trio_pipe.bus.bus"):
        with trio.fail_after(5):
            bus.send(BusEndMessage(source="t", reason="x"))
            await trio.testing.wait_all_tasks_blocked()
    assert bus.handler_errors == 1
    assert "must return a bool, not NoneType" in caplog.text
    assert "pipecat-style" in caplog.text


async def test_a_prefilter_returning_a_non_bool_is_reported(nursery, caplog):
    bus = LocalBus()
    sub = PipecatStyle()
    sub.bus_prefilter = lambda message: None  # type: ignore[attr-defined]
    bus.subscribe(sub)
    await nursery.start(bus.run)
    with caplog.at_level(logging.ERROR, logger="trio_pipe.bus.bus"):
        with trio.fail_after(5):
            bus.send(BusEndMessage(source="t", reason="x"))
            await trio.testing.wait_all_tasks_blocked()
    assert bus.handler_errors == 1
    assert "not a bool" in caplog.text
    assert len(sub.seen) == 1  # the dispatch-time filter (True) decided


def test_workers_and_runners_are_bus_subscribers():
    from trio_pipe.workers.base import BaseWorker
    from trio_pipe.workers.runner import WorkerRunner

    assert isinstance(BaseWorker("w"), BusSubscriber)
    assert isinstance(WorkerRunner(handle_sigint=False), BusSubscriber)


def test_the_package_exports_what_pipecat_bus_exports():
    expected = {
        "AsyncQueueBus",
        "BusBridgeProcessor",
        "BusJobRequestMessage",
        "BusMessage",
        "BusSubscriber",
        "LocalBus",
        "WorkerBus",
        "WorkerRegistryEntry",
    }
    if PIPECAT_BUS_INIT.exists():  # the real list, when the Pipecat peer venv is there
        tree = ast.parse(PIPECAT_BUS_INIT.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and node.targets[0].id == "__all__":  # type: ignore[attr-defined]
                expected |= {elt.value for elt in node.value.elts}  # type: ignore[attr-defined]
        assert len(expected) > 30
    namespace: dict[str, object] = {}
    exec("from trio_pipe.bus import *", namespace)
    missing = expected - set(namespace)
    assert not missing
    assert trio_pipe.bus.AsyncQueueBus is trio_pipe.bus.LocalBus
