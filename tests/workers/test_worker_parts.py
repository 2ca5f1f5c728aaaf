"""A worker's parts (job server, job requester, family) are objects with their own state
that need only the narrow worker port: driven here by a plain fake worker, no bus."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import trio
import trio.testing

import trio_pipe.compat as compat
from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusMessage,
    JobStatus,
    WorkerReadyData,
)
from trio_pipe.events import EventHandlerMixin
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers import BaseWorker, JobParams, jobs
from trio_pipe.workers.family import WorkerFamily
from trio_pipe.workers.job_requester import JobRequester
from trio_pipe.workers.job_server import JobServer


class FakeWorker:
    """Just the port and the hooks, recording what the parts do with them."""

    def __init__(self, nursery: trio.Nursery, registry: WorkerRegistry | None = None) -> None:
        self.name = "fake"
        self._nursery = nursery
        self._registry = registry
        self.sent: list[BusMessage] = []
        self.events: list[str] = []
        self.completed: list[Any] = []
        self.cancelled: list[str] = []

    @property
    def registry(self) -> WorkerRegistry:
        assert self._registry is not None
        return self._registry

    def start_soon(self, fn: Any, *args: Any) -> None:
        self._nursery.start_soon(fn, *args)

    def _send(self, message: BusMessage) -> None:
        self.sent.append(message)

    def _call_event_handler(self, event_name: str, *args: Any) -> None:
        self.events.append(event_name)

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await trio.sleep_forever()  # until cancelled

    async def on_job_update_requested(self, message: Any) -> None:
        pass

    async def on_job_cancelled(self, message: Any) -> None:
        self.cancelled.append(message.job_id)

    async def send_job_response(self, job_id: str, response: Any = None, **kw: Any) -> None:
        self.server.respond(job_id, response, kw.get("status", JobStatus.COMPLETED), False)

    async def on_job_response(self, message: Any) -> None:
        pass

    async def on_job_completed(self, result: Any) -> None:
        self.completed.append(result)

    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        self.events.append(f"ready:{data.worker_name}")


async def test_a_job_server_serves_through_the_port_alone(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        worker = FakeWorker(nursery)
        server = worker.server = JobServer(worker, {})  # type: ignore[attr-defined]
        server.handle_request(BusJobRequestMessage(job_id="j1", source="asker", target="fake"))
        await trio.testing.wait_all_tasks_blocked()
        assert list(server.active_jobs) == ["j1"] and list(server.scopes) == ["j1"]
        await server.handle_cancel(BusJobCancelMessage(job_id="j1", source="asker"))
        await trio.testing.wait_all_tasks_blocked()
        assert worker.cancelled == ["j1"] and server.active_jobs == {} and server.scopes == {}
        (answer,) = worker.sent
        assert isinstance(answer, BusJobResponseMessage)
        assert (answer.target, answer.status, answer.source) == (
            "asker",
            JobStatus.CANCELLED,
            "fake",
        )
        assert worker.events == ["on_job_request", "on_job_cancelled"]


async def test_a_job_requester_launches_and_completes_a_group_through_the_port(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        registry = WorkerRegistry("r")
        await registry.register(WorkerReadyData("w1", "r"))
        worker = FakeWorker(nursery, registry)
        requester = JobRequester(worker)  # type: ignore[arg-type]
        group = await requester.start_group(["w1"], JobParams(name="x"), events=False)
        (request,) = worker.sent
        assert isinstance(request, BusJobRequestMessage)
        assert (request.target, request.job_name, request.job_id) == ("w1", "x", group.job_id)
        answer = BusJobResponseMessage(
            job_id=group.job_id, status=JobStatus.COMPLETED, response={"ok": 1}, source="w1"
        )
        await requester.handle_response(answer)
        assert requester.groups == {}
        assert [r.responses for r in worker.completed] == [{"w1": {"ok": 1}}]


async def test_a_family_watches_through_the_registry_it_was_given(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        registry = WorkerRegistry("r")
        worker = FakeWorker(nursery, registry)
        family = WorkerFamily(worker, {})  # type: ignore[arg-type]
        await family.watch(["late"])  # before attach: nothing to watch with
        family.registry = registry
        await family.watch(["late"])
        await registry.register(WorkerReadyData("late", "r"))
        assert worker.events == ["ready:late", "on_worker_ready"]
        family.unwatch_all()
        assert registry.watch_count == 0


def test_event_state_is_made_in_init_not_on_first_use() -> None:
    class Quiet(EventHandlerMixin):
        pass

    quiet = Quiet()
    assert {"_event_handlers", "_event_lanes", "_children"} <= set(vars(quiet))
    assert quiet.event_handler_errors == 0 and quiet.event_handler_drops == 0
    worker = BaseWorker("w")
    assert worker.has_event_handlers("on_job_response") is False  # registered, none attached


def test_the_deprecated_spellings_live_in_compat() -> None:
    assert jobs.resolve_job_params is compat.resolve_job_params
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        BaseWorker("w").job("x", bogus=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BaseWorker("w").job("x", payload={"a": 1})
    (warning,) = caught
    assert warning.category is DeprecationWarning and warning.filename == __file__


def test_renamed_and_deprecated_spellings_warn_at_the_callers_line() -> None:
    from trio_pipe.bus import LocalBus
    from trio_pipe.workers.bridge_processor import BusBridgeProcessor
    from trio_pipe.workers.ui import BaseUIWorker

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bridge = BusBridgeProcessor(bus=LocalBus(), worker_name="v", target_task="brain")
        BaseUIWorker("old")
    assert [(w.category, w.filename) for w in caught] == [(DeprecationWarning, __file__)] * 2
    from trio_pipe.bus.messages import BusFrameMessage
    from trio_pipe.frames import TextFrame
    from trio_pipe.processors import FrameDirection

    def frame_from(source: str) -> BusFrameMessage:
        return BusFrameMessage(
            frame=TextFrame(text="x"), direction=FrameDirection.DOWNSTREAM, source=source
        )

    assert bridge.accepts_bus_message(frame_from("brain"))
    assert not bridge.accepts_bus_message(frame_from("other"))
