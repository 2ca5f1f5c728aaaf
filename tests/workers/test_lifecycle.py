"""BaseWorker lifecycle, activation, built-in handling and children (checks W1–W11)."""

from __future__ import annotations

import pytest
import trio
from worker_helpers import (
    NetBus,
    Network,
    Recorder,
    RecordingBus,
    Spy,
    record_events,
    settle,
    start_runner,
)

from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    WorkerErrorData,
)
from trio_pipe.frames import CancelFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.workers import BaseWorker, WorkerActivationArgs, WorkerRunner, worker_ready


async def test_w1_attach_gives_bus_registry_and_runner():
    w = BaseWorker("w")
    for attr in ("bus", "registry", "worker_runner"):
        with pytest.raises(RuntimeError, match="attach"):
            getattr(w, attr)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(w)
    assert w.worker_runner is runner
    assert w.bus is runner.bus
    assert w.registry is runner.registry
    assert runner.get_worker("w") is w
    assert runner.get_worker("nobody") is None
    assert w in runner.bus.subscribers  # listening before anyone emits


async def test_default_name_and_str():
    a, b = BaseWorker(), BaseWorker()
    assert a.name.startswith("BaseWorker#") and a.name != b.name
    assert str(a) == a.name
    with pytest.raises(TypeError):
        BaseWorker(3)  # type: ignore[arg-type]


async def test_w2_ready_message_goes_out_before_watchers_run(nursery):
    bus = RecordingBus()
    w = BaseWorker("w")
    runner = WorkerRunner(bus=bus, handle_sigint=False, name="r")
    await runner.add_workers(w)
    seen_at_watch = []

    async def watcher(data):
        seen_at_watch.append([m for m in bus.sent if isinstance(m, BusWorkerReadyMessage)])

    await runner.registry.watch("w", watcher)
    assert w.started_at is None
    await nursery.start(runner.run)
    assert w.started_at is not None
    [[ready]] = seen_at_watch
    assert ready.source == "w"
    assert (ready.runner, ready.parent, ready.active, ready.bridged) == ("r", None, True, False)
    assert ready.started_at == w.started_at


async def test_w3_active_worker_activates_once_at_start(nursery):
    w = Recorder("w")
    log = record_events(w, "on_activated")
    await start_runner(nursery, w)
    await settle()
    assert w.hooks("activated") == [("activated", None)]
    assert log == [("on_activated", None)]
    assert w.active


async def test_w3_inactive_worker_waits_for_activation_with_args(nursery):
    w = Recorder("w", active=False)
    log = record_events(w, "on_activated")
    runner = await start_runner(nursery, w)
    await settle()
    assert not w.active and w.hooks("activated") == [] and log == []
    runner.bus.send(BusActivateWorkerMessage(args={"k": 1}, source="t", target="w"))
    await settle()
    assert w.active
    assert w.hooks("activated") == [("activated", {"k": 1})]
    assert log == [("on_activated", {"k": 1})]
    assert w.activation_args == {"k": 1}


async def test_activation_before_start_waits_for_start():
    w = Recorder("w", active=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(w)
    # Delivered before the worker runs: it activates when it starts.
    await w._handle_worker_activate(BusActivateWorkerMessage(args={"a": 1}, source="t"))
    assert w.hooks("activated") == []
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        assert w.hooks("activated") == [("activated", {"a": 1})]
        await runner.cancel()


async def test_w4_deactivate(nursery):
    w = Recorder("w")
    log = record_events(w, "on_deactivated")
    runner = await start_runner(nursery, w)
    runner.bus.send(BusActivateWorkerMessage(args={"k": 1}, source="t", target="w"))
    runner.bus.send(BusDeactivateWorkerMessage(source="t", target="w"))
    await settle()
    assert not w.active
    assert w.activation_args is None
    assert w.hooks("deactivated") == [("deactivated",)]
    assert log == [("on_deactivated",)]


class Inactive(Recorder):
    def __init__(self, name):
        super().__init__(name, active=False)
        self.requests = []

    async def on_job_request(self, message):
        self.requests.append(message)


async def test_w5_inactive_worker_ignores_jobs_but_not_lifecycle(nursery):
    w, v = Inactive("w"), Inactive("v")
    runner = await start_runner(nursery, w, v)
    send = runner.bus.send
    send(BusJobRequestMessage(job_id="j", source="t", target="w"))
    send(BusJobCancelMessage(job_id="j", source="t", target="w"))
    await settle()
    assert w.requests == [] and w.active_jobs == {}
    send(BusDeactivateWorkerMessage(source="t", target="w"))
    await settle()
    assert w.hooks("deactivated") == [("deactivated",)]
    send(BusActivateWorkerMessage(source="t", target="w"))
    await settle()
    assert w.hooks("activated") == [("activated", None)]
    send(BusDeactivateWorkerMessage(source="t", target="w"))
    send(BusEndWorkerMessage(source="t", target="w"))
    send(BusCancelWorkerMessage(source="t", target="v"))
    await settle()
    assert not w.active and w.finished
    assert not v.active and v.finished


async def test_w6_handoff_deactivates_self_first(nursery):
    a, b = Recorder("a"), Recorder("b", active=False)
    spy = Spy()
    runner = await start_runner(nursery, a, b)
    runner.bus.subscribe(spy)
    await a.activate_worker("b", args=WorkerActivationArgs(metadata={"m": 1}), deactivate_self=True)
    assert not a.active  # at once, before the bus delivers anything
    await settle()
    sent = spy.of((BusDeactivateWorkerMessage, BusActivateWorkerMessage))
    assert [(type(m), m.target) for m in sent] == [
        (BusDeactivateWorkerMessage, "a"),
        (BusActivateWorkerMessage, "b"),
    ]
    assert sent[1].args == {"metadata": {"m": 1}}
    assert b.active and b.activation_args == {"metadata": {"m": 1}}
    assert not a.active


async def test_w6_self_handoff_ends_active(nursery):
    a = Recorder("a")
    await start_runner(nursery, a)
    await a.activate_worker("a", deactivate_self=True)
    assert not a.active
    await settle()
    assert a.active
    assert a.activation_args is None


async def test_w6_deactivate_worker_sends_only_the_deactivate(nursery):
    a, b = Recorder("a"), Recorder("b")
    spy = Spy()
    runner = await start_runner(nursery, a, b)
    runner.bus.subscribe(spy)
    await a.deactivate_worker("b")
    await settle()
    assert [type(m) for m in spy.seen] == [BusDeactivateWorkerMessage]
    assert not b.active and a.active


async def test_w7_on_bus_message_event_for_broadcast_and_own_target_only(nursery):
    w = BaseWorker("w")
    log = record_events(w, "on_bus_message")
    runner = await start_runner(nursery, w)
    await settle()
    log.clear()
    broadcast = BusTTSSpeakMessage(text="all", source="t")
    mine = BusTTSSpeakMessage(text="mine", source="t", target="w")
    other = BusTTSSpeakMessage(text="other", source="t", target="x")
    frame = BusFrameMessage(CancelFrame(), FrameDirection.DOWNSTREAM, source="t", target="w")
    for message in (broadcast, mine, other, frame):
        runner.bus.send(message)
    await settle()
    # Event handlers are concurrent tasks: compare without order.
    assert sorted(args[0].text for _, *args in log) == ["all", "mine"]


class Parent(Recorder):
    pass


async def test_w8_add_child_workers(nursery):
    parent, child = Parent("p"), Recorder("c")
    runner = await start_runner(nursery, parent)
    await parent.add_workers(child)
    assert child.parent == "p"
    assert parent.children == [child]
    await settle()
    assert runner.get_worker("c") is child
    assert child.started_at is not None
    assert parent.hooks("worker_ready") == [("worker_ready", "c")]
    # A child that already has a parent is skipped.
    other = Parent("o")
    await runner.add_workers(other)
    await other.add_workers(child)
    assert child.parent == "p" and other.children == []


class SlowChild(Recorder):
    """Finishes its end or cancel only when released."""

    def __init__(self, name):
        super().__init__(name)
        self.release = trio.Event()
        self.got = []

    async def _handle_worker_end(self, message):
        self.got.append(("end", message.reason, message.source))
        self.start_soon(self._finish_later)

    async def _handle_worker_cancel(self, message):
        self.got.append(("cancel", message.reason, message.source))
        self.start_soon(self._finish_later)

    async def _finish_later(self):
        await self.release.wait()
        await self.stop()


async def test_w9_end_waits_for_every_child(nursery):
    parent, c1, c2 = Parent("p"), SlowChild("c1"), SlowChild("c2")
    runner = await start_runner(nursery, parent)
    await parent.add_workers(c1, c2)
    await settle()
    runner.bus.send(BusEndWorkerMessage(reason="bye", source="t", target="p"))
    await settle()
    assert c1.got == [("end", "bye", "p")] and c2.got == [("end", "bye", "p")]
    assert not parent.finished
    c1.release.set()
    await settle()
    assert c1.finished and not parent.finished
    c2.release.set()
    await settle()
    assert parent.finished


async def test_w9_cancel_does_not_wait_for_children(nursery):
    parent, child = Parent("p"), SlowChild("c")
    # A second root keeps the session (auto_end) going after the parent finished.
    runner = await start_runner(nursery, parent, BaseWorker("anchor"))
    await parent.add_workers(child)
    await settle()
    runner.bus.send(BusCancelWorkerMessage(reason="now", source="t", target="p"))
    await settle()
    assert child.got == [("cancel", "now", "p")]
    assert parent.finished and not child.finished
    child.release.set()
    await settle()
    assert child.finished


async def test_w10_child_error_goes_to_parent_only_root_error_is_published(nursery):
    network = Network()
    bus = NetBus(network)
    parent, child = Parent("p"), Recorder("c")
    log = record_events(parent, "on_worker_failed")
    spy = Spy()
    bus.subscribe(spy)
    await start_runner(nursery, parent, bus=bus)
    await parent.add_workers(child)
    await settle()
    await child.send_bus_error_message("child broke")
    await settle()
    [local] = spy.of(BusWorkerLocalErrorMessage)
    assert local.source == "c" and local.error == "child broke"
    assert not any(isinstance(m, BusWorkerLocalErrorMessage) for m in bus.published)
    expected = WorkerErrorData("c", "child broke")
    assert parent.hooks("worker_failed") == [("worker_failed", expected)]
    assert log == [("on_worker_failed", expected)]
    await parent.send_bus_error_message("root broke")
    await settle()
    [published] = [m for m in bus.published if isinstance(m, BusWorkerErrorMessage)]
    assert published.source == "p" and published.error == "root broke"
    assert len(parent.hooks("worker_failed")) == 1  # its own error is not a child's


class Watcher(Recorder):
    def __init__(self, name):
        super().__init__(name)
        self.x_ready = []

    @worker_ready(name="x")
    async def on_x_ready(self, data):
        self.calls.append(("x_ready", data.worker_name, data.runner))


async def test_w11_worker_ready_decorator_then_on_worker_ready(nursery):
    watcher = Watcher("watcher")
    log = record_events(watcher, "on_worker_ready")
    runner = await start_runner(nursery, watcher, BaseWorker("unwatched"), name="r")
    await settle()
    assert watcher.calls == [("activated", None)]  # no on_worker_ready for unwatched
    await runner.add_workers(BaseWorker("x"))
    await settle()
    assert watcher.calls[1:] == [("x_ready", "x", "r"), ("worker_ready", "x")]
    assert [(e, d.worker_name) for e, d in log] == [("on_worker_ready", "x")]


async def test_w11_worker_ready_fires_at_once_when_already_registered(nursery):
    x = BaseWorker("x")
    runner = await start_runner(nursery, x)
    watcher = Watcher("watcher")
    await runner.add_workers(watcher)
    await settle()
    assert [c for c in watcher.calls if c[0] != "activated"] == [
        ("x_ready", "x", runner.name),
        ("worker_ready", "x"),
    ]


async def test_w11_duplicate_worker_ready_names_raise():
    class Twice(BaseWorker):
        @worker_ready(name="x")
        async def one(self, data):
            pass

        @worker_ready(name="x")
        async def two(self, data):
            pass

    with pytest.raises(ValueError, match=r"'one'.*'two'|'two'.*'one'"):
        Twice("t")


async def test_watch_workers_without_registry_does_nothing():
    w = Recorder("w")
    await w.watch_workers("x")
    await w.send_bus_message(BusTTSSpeakMessage(text="x", source="w"))  # not attached: no-op
    assert w.calls == []


async def test_end_and_cancel_ask_the_runner(nursery):
    w = BaseWorker("w")
    runner = await start_runner(nursery, w, BaseWorker("other"))
    await w.end(reason="done")
    await settle()
    assert w.finished
    assert runner.get_worker("other").finished


async def test_stop_twice_and_run_twice():
    w = BaseWorker("w")
    await w.stop()
    await w.stop()
    assert w.finished
    await w.run()  # stopped before it ran: returns at once
    with pytest.raises(RuntimeError, match="already running"):
        await w.run()


async def test_a_worker_overriding_on_bus_message_still_sees_every_message(nursery):
    class Observer(BaseWorker):
        def __init__(self, name):
            super().__init__(name)
            self.seen = []

        async def on_bus_message(self, message):
            await super().on_bus_message(message)
            self.seen.append(message.target)

    observer, plain = Observer("observer"), BaseWorker("plain")
    assert observer.bus_prefilter is None  # gets everything, as in Pipecat (proxies rely on it)
    assert plain.bus_prefilter is not None  # skips what it would ignore anyway
    runner = await start_runner(nursery, observer, plain)
    await settle()
    observer.seen.clear()
    runner.bus.send(BusTTSSpeakMessage(text="x", source="t", target="elsewhere"))
    runner.bus.send(BusFrameMessage(CancelFrame(), FrameDirection.DOWNSTREAM, source="t"))
    await settle()
    assert observer.seen == ["elsewhere", None]
