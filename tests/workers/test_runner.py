"""WorkerRunner: adding, ending, cancelling, registry exchange, signals, failures (R1–R9).

The central promise (R8) is tested with real workers on a LocalBus: when ``run`` returns
nothing it started is left, every worker's ``wait()`` returns, and a job handler that
slept forever was cancelled.
"""

from __future__ import annotations

import logging
import signal

import pytest
import trio
from worker_helpers import NetBus, Network, Recorder, Spy, record_events, settle, start_runner

from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusCancelWorkerMessage,
    BusEndWorkerMessage,
    BusJobResponseMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerRegistryMessage,
    JobStatus,
)
from trio_pipe.workers import BaseWorker, JobError, JobParams, WorkerRunner, job


class Ending(BaseWorker):
    """Records whether it was ended or cancelled; its end can take a while."""

    def __init__(self, name, *, end_takes: float = 0.0, ignore_cancel: bool = False):
        super().__init__(name)
        self.end_takes = end_takes
        self.ignore_cancel = ignore_cancel
        self.outcome: list[tuple[str, str | None, str]] = []

    async def _handle_worker_end(self, message):
        self.outcome.append(("ended", message.reason, message.source))
        self.start_soon(self._finish_end, message)

    async def _finish_end(self, message):
        await trio.sleep(self.end_takes)
        await super()._handle_worker_end(message)

    async def _handle_worker_cancel(self, message):
        self.outcome.append(("cancelled", message.reason, message.source))
        if not self.ignore_cancel:
            await super()._handle_worker_cancel(message)


class Sleeper(BaseWorker):
    """A job handler that sleeps forever and records that it was cancelled."""

    def __init__(self, name="sleeper"):
        super().__init__(name)
        self.handler_cancelled = 0

    @job(name="sleep")
    async def sleep(self, message):
        try:
            await trio.sleep_forever()
        finally:
            self.handler_cancelled += 1


class Failing(BaseWorker):
    async def start(self):
        await super().start()
        raise ValueError("cannot start")


async def wait_all(*workers: BaseWorker) -> None:
    for worker in workers:
        with trio.fail_after(1):
            await worker.wait()


async def test_r1_duplicate_name_keeps_the_first_and_on_ready_after_start(nursery, caplog):
    first, second = BaseWorker("w"), BaseWorker("w")
    runner = WorkerRunner(handle_sigint=False)
    ready_seen = []

    @runner.event_handler("on_ready")
    async def on_ready(r):
        ready_seen.append((r, first.started_at is not None))

    await runner.add_workers(first)
    with caplog.at_level(logging.ERROR):
        await runner.add_workers(second)
    assert "already exists" in caplog.text
    assert runner.get_worker("w") is first
    await nursery.start(runner.run)
    await settle()
    assert ready_seen == [(runner, True)]
    assert second.started_at is None


async def test_r2_auto_end_returns_when_roots_finish(autojump_clock):
    a, b = BaseWorker("a"), BaseWorker("b")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(a, b)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await a.stop()
        await settle()
        assert runner._running
        await b.stop()
    assert not runner._running


async def test_r2_without_auto_end_runs_until_end(autojump_clock):
    a = BaseWorker("a")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(a)
    async with trio.open_nursery() as n:
        await n.start(lambda task_status: runner.run(auto_end=False, task_status=task_status))
        await a.stop()
        await trio.sleep(100)
        assert runner._running
        await runner.end()
    assert not runner._running


async def test_r2_no_workers_waits_for_end(autojump_clock):
    runner = WorkerRunner(handle_sigint=False)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await trio.sleep(100)
        assert runner._running
        await runner.cancel()


async def test_r3_end_is_graceful_and_reaches_roots_only(autojump_clock):
    root = Ending("root", end_takes=3.0)
    child = Ending("child")
    runner = WorkerRunner(handle_sigint=False, cancel_timeout=1.0)
    await runner.add_workers(root)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await root.add_workers(child)
        await settle()
        t0 = trio.current_time()
        await runner.end("bye")
        await runner.end("again")  # idempotent
    # The runner waited 3 s for the root (past its 1 s cancel timeout) and sent no cancel.
    assert trio.current_time() - t0 == pytest.approx(3.0)
    assert root.outcome == [("ended", "bye", runner.name)]
    assert child.outcome == [("ended", "bye", "root")]
    await wait_all(root, child)
    # NOTE for PipelineWorker (later issue): the same path must finish its pipeline with
    # an EndFrame, not a CancelFrame; add that assertion to its tests.


async def test_r4_cancel_reaches_roots_and_cuts_off_stubborn_workers(autojump_clock):
    stubborn = Ending("stubborn", ignore_cancel=True)
    polite, child = Ending("polite"), Ending("child")
    spy = Spy()
    runner = WorkerRunner(handle_sigint=False, cancel_timeout=2.5)
    runner.bus.subscribe(spy)
    await runner.add_workers(stubborn, polite)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await polite.add_workers(child)
        await settle()
        t0 = trio.current_time()
        await runner.cancel("x")
        await runner.cancel("y")  # idempotent
        await runner.end("z")  # shares the flag: ignored
    assert trio.current_time() - t0 == pytest.approx(2.5)
    from_runner = [
        (m.target, m.reason) for m in spy.of(BusCancelWorkerMessage) if m.source == runner.name
    ]
    assert sorted(from_runner) == [("polite", "x"), ("stubborn", "x")]
    assert child.outcome == [("cancelled", "x", "polite")]
    assert stubborn.outcome == [("cancelled", "x", runner.name)]
    assert spy.of(BusEndWorkerMessage) == []
    await wait_all(stubborn, polite, child)


async def test_r4_cancel_escalates_a_graceful_end(autojump_clock):
    slow = Ending("slow", end_takes=1000)
    runner = WorkerRunner(handle_sigint=False, cancel_timeout=1)
    await runner.add_workers(slow)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await runner.end("bye")
        await trio.sleep(5)
        await runner.cancel("hurry")
    assert slow.outcome == [("ended", "bye", runner.name), ("cancelled", "hurry", runner.name)]
    assert trio.current_time() < 10


async def test_r5_worker_end_cancel_and_add_worker_messages(autojump_clock):
    a, b = Ending("a"), Ending("b")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(a, b)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await a.end(reason="finished")
    assert a.outcome == b.outcome == [("ended", "finished", runner.name)]

    c, d = Ending("c"), Ending("d")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(c)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        runner.bus.send(BusAddWorkerMessage(worker=d, source="c"))
        await settle()
        assert runner.get_worker("d") is d and d.started_at is not None
        await c.cancel(reason="abort")
    assert c.outcome == d.outcome == [("cancelled", "abort", runner.name)]


async def test_r6_runners_exchange_registries_once(autojump_clock):
    network = Network()
    bus_a, bus_b = NetBus(network), NetBus(network)
    voice, worker = BaseWorker("voice"), BaseWorker("worker")

    class Answer(BaseWorker):
        async def on_job_request(self, message):
            await self.send_job_update(message.job_id, {"step": 1})
            await self.send_job_response(message.job_id, {"answer": 42})

    worker = Answer("worker")
    async with trio.open_nursery() as n:
        runner_a = await start_runner(n, voice, bus=bus_a, name="A")
        runner_b = await start_runner(n, worker, bus=bus_b, name="B")
        await settle()
        assert runner_a.registry.remote_workers == ["worker"]
        assert runner_b.registry.remote_workers == ["voice"]

        def snapshots(bus):
            return [m for m in bus.published if isinstance(m, BusWorkerRegistryMessage)]

        # Each runner: one snapshot when its root worker became ready, one reply.
        assert len(snapshots(bus_a)) == 2 and len(snapshots(bus_b)) == 2
        await runner_a.add_workers(BaseWorker("late"))
        await settle()
        assert sorted(runner_b.registry.remote_workers) == ["late", "voice"]
        assert len(snapshots(bus_b)) == 2  # B knows A already: no reply
        entry = snapshots(bus_a)[-1].workers[0]
        assert (entry.name, entry.parent, entry.active) == ("voice", None, True)

        async with voice.job("worker", params=JobParams(timeout=5)) as task:
            events = [e.data async for e in task]
        assert events == [{"step": 1}] and task.response == {"answer": 42}
        await runner_a.cancel()
        await runner_b.cancel()


@pytest.mark.parametrize("handle_sigterm", [False, True])
async def test_r7_signals(autojump_clock, handle_sigterm):
    w = Ending("w")
    runner = WorkerRunner(handle_sigint=True, handle_sigterm=handle_sigterm)
    await runner.add_workers(w)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        handler = signal.getsignal(signal.SIGTERM)
        assert (handler is signal.SIG_DFL) is not handle_sigterm
        if handle_sigterm:
            signal.raise_signal(signal.SIGTERM)
        else:
            signal.raise_signal(signal.SIGINT)
    assert w.outcome == [("cancelled", "interrupt signal", runner.name)]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_r7_second_signal_stops_at_once(autojump_clock):
    stubborn = Ending("stubborn", ignore_cancel=True)
    runner = WorkerRunner(handle_sigint=True, cancel_timeout=100)  # not the main task
    await runner.add_workers(stubborn)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        signal.raise_signal(signal.SIGINT)
        await trio.sleep(1)
        signal.raise_signal(signal.SIGINT)
    assert trio.current_time() < 50
    assert stubborn.finished


async def test_r7_signal_handling_off_outside_the_main_thread():
    def in_thread():
        async def main():
            runner = WorkerRunner(handle_sigterm=True)
            await runner.add_workers(BaseWorker("w"))
            async with trio.open_nursery() as n:
                await n.start(runner.run)
                await runner.cancel()
            return "ok"

        return trio.run(main)

    assert await trio.to_thread.run_sync(in_thread) == "ok"


async def test_r8_nothing_is_left_when_run_returns(live_tasks, autojump_clock):
    before = live_tasks()
    sleeper, requester = Sleeper(), BaseWorker("req")
    parent, child = Ending("parent"), Ending("child")
    runner = WorkerRunner()  # with the SIGINT watcher
    await runner.add_workers(sleeper, requester, parent)
    failures = []

    async def wait_for_job():
        try:
            async with requester.job("sleeper", params=JobParams(name="sleep", timeout=1000)):
                pass
        except JobError as exc:
            failures.append(str(exc))

    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await parent.add_workers(child)
        await requester.request_job("sleeper", params=JobParams(name="sleep"))
        n.start_soon(wait_for_job)
        await settle()
        assert len(sleeper.active_jobs) == 2
        await runner.end("bye")
    assert live_tasks() == before
    assert sleeper.handler_cancelled == 2
    assert failures == ["worker 'req' stopped"]
    await wait_all(sleeper, requester, parent, child)
    assert runner.bus.subscribers == []


async def test_r8_cancelling_around_run_tears_down_within_cancel_timeout(
    live_tasks, autojump_clock
):
    class StuckStop(BaseWorker):
        async def stop(self):
            await trio.sleep_forever()  # a stop that never returns on its own

    before = live_tasks()
    sleeper, requester = Sleeper(), BaseWorker("req")
    stubborn, stuck = Ending("stubborn", ignore_cancel=True), StuckStop("stuck")
    runner = WorkerRunner(cancel_timeout=3)
    await runner.add_workers(sleeper, requester, stubborn, stuck)
    with trio.CancelScope() as outer:
        async with trio.open_nursery() as n:
            await n.start(runner.run)
            await requester.request_job("sleeper", params=JobParams(name="sleep"))
            await settle()
            t0 = trio.current_time()
            outer.cancel()
    assert trio.current_time() - t0 <= runner.cancel_timeout
    assert live_tasks() == before
    assert sleeper.handler_cancelled == 1
    await wait_all(sleeper, requester, stubborn, stuck)


async def test_r8_cancel_with_a_stuck_stop_still_returns(live_tasks, autojump_clock):
    class StuckStop(BaseWorker):
        async def stop(self):
            await trio.sleep_forever()

    before = live_tasks()
    stuck = StuckStop("stuck")
    runner = WorkerRunner(cancel_timeout=2)
    await runner.add_workers(stuck)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await runner.cancel()
    assert live_tasks() == before
    assert stuck.finished


async def test_r8_orphaned_child_does_not_hang_run(autojump_clock):
    class Abandoning(BaseWorker):
        async def _handle_worker_end(self, message):
            await self.stop()  # finishes without ending its child

    parent, child = Abandoning("parent"), Ending("child")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(parent)
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await parent.add_workers(child)
        await settle()
        await runner.end()
    assert child.outcome == [("cancelled", "runner exiting", runner.name)]


async def test_r9_failing_worker_is_reported_and_others_keep_running(nursery, caplog):
    failing, steady = Failing("failing"), BaseWorker("steady")
    spy = Spy()
    runner = WorkerRunner(handle_sigint=False)
    runner.bus.subscribe(spy)
    errors = record_events(runner, "on_error")
    await runner.add_workers(failing, steady)
    with caplog.at_level(logging.ERROR):
        await nursery.start(runner.run)
        await settle()
    assert "cannot start" in caplog.text
    [error] = spy.of(BusWorkerErrorMessage)
    assert (error.source, error.error) == ("failing", "ValueError: cannot start")
    [(_event, worker, exc)] = errors
    assert worker is failing and isinstance(exc, ValueError)
    assert failing.finished and not steady.finished and runner._running


async def test_r9_failing_child_reports_to_its_parent(nursery):
    parent, child = Recorder("parent"), Failing("child")
    spy = Spy()
    runner = await start_runner(nursery, parent)
    runner.bus.subscribe(spy)
    await parent.add_workers(child)
    await settle()
    assert [m.source for m in spy.of(BusWorkerLocalErrorMessage)] == ["child"]
    assert [c[1].worker_name for c in parent.hooks("worker_failed")] == ["child"]


async def test_a_job_to_a_finished_worker_is_answered(nursery, autojump_clock):
    gone, requester = BaseWorker("gone"), BaseWorker("req")
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(gone, requester)
    await nursery.start(lambda task_status: runner.run(auto_end=False, task_status=task_status))
    await gone.stop()
    await settle()
    with pytest.raises(JobError, match="errored"):
        async with requester.job("gone") as task:
            pass
    assert task.response == {"error": "worker 'gone' has finished"}


async def test_requests_queued_when_a_worker_finishes_are_answered(nursery, autojump_clock):
    class SlowChild(BaseWorker):
        def __init__(self, name):
            super().__init__(name)
            self.release = trio.Event()

        async def _handle_worker_end(self, message):
            await self.release.wait()
            await self.stop()

    parent, child, requester = BaseWorker("parent"), SlowChild("child"), BaseWorker("req")
    spy = Spy()
    runner = await start_runner(nursery, parent, requester)
    runner.bus.subscribe(spy)
    await parent.add_workers(child)
    await settle()
    runner.bus.send(BusEndWorkerMessage(source="t", target="parent"))
    await settle()  # the parent's data lane waits for its child
    job_id = await requester.request_job("parent")
    await settle()
    child.release.set()
    await settle()
    answers = [m for m in spy.of(BusJobResponseMessage) if m.job_id == job_id]
    assert [(m.status, m.source) for m in answers] == [(JobStatus.ERROR, "parent")]


async def test_a_remote_requester_hears_back_when_a_worker_is_cut_off(autojump_clock):
    class StubbornSleeper(Sleeper):
        async def _handle_worker_cancel(self, message):
            pass  # ignores the cancel: only the cut-off stops it

    network = Network()
    requester, sleeper = BaseWorker("req"), StubbornSleeper("sleeper")
    answers = []
    async with trio.open_nursery() as n:
        runner_a = await start_runner(n, requester, bus=NetBus(network), name="A")
        runner_b = await start_runner(n, sleeper, bus=NetBus(network), name="B", cancel_timeout=2)

        async def ask():
            async with requester.job("sleeper", params=JobParams(name="sleep")) as task:
                pass
            answers.append((trio.current_time(), task.response))

        n.start_soon(ask)
        await settle()
        t0 = trio.current_time()
        await runner_b.cancel("bye")
        await trio.sleep(3)  # past B's cancel_timeout
        assert sleeper.finished
        await runner_a.cancel()
    [(answered_at, response)] = answers
    assert answered_at - t0 == pytest.approx(2) and response == {}  # CANCELLED, not stuck
    assert sleeper.handler_cancelled == 1


async def test_force_gc_runs_after_teardown(monkeypatch):
    import gc

    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(a) or 0)
    runner = WorkerRunner(handle_sigint=False, force_gc=True)
    await runner.add_workers(BaseWorker("w"))
    async with trio.open_nursery() as n:
        await n.start(runner.run)
        await runner.cancel()
    assert calls == [()]
