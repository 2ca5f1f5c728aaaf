"""Errors a caller can catch: every public ``run()`` raises the error itself, not the
exception groups of its own nurseries; the runner's policy on a failing worker is
explicit (issue 13, item 6)."""

from __future__ import annotations

import socket

import coredis
import pytest
import trio
from worker_helpers import settle

from trio_pipe._errors import single_error
from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.redis import RedisBus
from trio_pipe.frames import Frame, StartFrame
from trio_pipe.pipeline import Pipeline, PipelineTask
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.workers import BaseWorker, WorkerRunner


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


class Broken(BaseWorker):
    async def start(self) -> None:
        await super().start()
        raise ValueError("broken at start")


async def test_a_runner_on_an_unreachable_redis_raises_the_connection_error_itself():
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=closed_port()))
    runner = WorkerRunner(bus=bus, handle_sigint=False)
    await runner.add_workers(BaseWorker("w"))
    with trio.fail_after(10):
        with pytest.raises(coredis.exceptions.ConnectionError) as caught:
            await runner.run()
    assert not isinstance(caught.value, BaseExceptionGroup)
    assert caught.value.__suppress_context__  # the groups are not printed around it


async def test_the_bus_alone_raises_the_connection_error_itself():
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=closed_port()))
    with trio.fail_after(10):
        with pytest.raises(coredis.exceptions.ConnectionError):
            await bus.run()


async def test_a_worker_raises_its_own_error():
    with trio.fail_after(5):
        with pytest.raises(ValueError, match="broken at start"):
            await Broken("b").run()


async def test_by_default_a_failing_worker_fires_on_error_and_the_session_goes_on():
    broken, healthy = Broken("b"), BaseWorker("ok")
    runner = WorkerRunner(handle_sigint=False)
    errors: list[tuple[str, BaseException]] = []
    runner.add_event_handler("on_error", lambda r, w, e: errors.append((w.name, e)))
    await runner.add_workers(broken, healthy)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            await settle()
            assert not healthy.finished  # still running
            assert [(name, str(e)) for name, e in errors] == [("b", "broken at start")]
            await runner.cancel()
    assert healthy.finished


async def test_raise_worker_errors_cancels_the_session_and_run_raises_the_error():
    broken, healthy = Broken("b"), BaseWorker("ok")
    runner = WorkerRunner(handle_sigint=False, raise_worker_errors=True)
    errors: list[str] = []
    runner.add_event_handler("on_error", lambda r, w, e: errors.append(w.name))
    await runner.add_workers(broken, healthy)
    with trio.fail_after(5):
        with pytest.raises(ValueError, match="broken at start"):
            await runner.run()
    assert healthy.finished  # wound down before run raised
    assert errors == ["b"]


class FailsInBackground(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.start_soon(self._boom)
        await self.push_frame(frame, direction)

    async def _boom(self) -> None:
        raise KeyError("background loop failed")


async def test_a_pipeline_task_raises_a_processors_error_itself():
    task = PipelineTask(Pipeline([FailsInBackground()]))
    with trio.fail_after(10):
        with pytest.raises(KeyError, match="background loop failed"):
            await task.run()


async def test_a_local_bus_whose_transport_fails_raises_the_error_itself():
    class Failing(LocalBus):
        async def _start_transport(self, nursery: trio.Nursery) -> None:
            raise OSError("no network")

    with trio.fail_after(5):
        with pytest.raises(OSError, match="no network"):
            await Failing().run()


def test_several_errors_at_once_stay_a_group():
    with pytest.raises(ExceptionGroup) as caught, single_error():
        raise ExceptionGroup("two", [ValueError("a"), ExceptionGroup("b", [KeyError()])])
    assert len(caught.value.exceptions) == 2
    with pytest.raises(KeyError), single_error():
        raise ExceptionGroup("outer", [ExceptionGroup("inner", [KeyError("x")])])
