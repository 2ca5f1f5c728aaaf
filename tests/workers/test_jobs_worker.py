"""Jobs, worker side: handlers, sequential order, replies, cancel, errors (checks J1–J7)."""

from __future__ import annotations

import pytest
import trio
from worker_helpers import Spy, record_events, settle, start_runner

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
    JobStatus,
)
from trio_pipe.workers import BaseWorker, job


def request(job_id: str, job_name: str | None = None, **kw) -> BusJobRequestMessage:
    return BusJobRequestMessage(job_id=job_id, job_name=job_name, source="req", target="w", **kw)


class Server(BaseWorker):
    """Handlers that log, then block until released."""

    def __init__(self, name="w"):
        super().__init__(name)
        self.log: list[tuple[str, str]] = []
        self.release: dict[str, trio.Event] = {}
        self.cancelled: list[str] = []

    async def _work(self, kind, message):
        self.log.append((kind + ":start", message.job_id))
        gate = self.release.setdefault(message.job_id, trio.Event())
        try:
            await gate.wait()
        except trio.Cancelled:
            self.cancelled.append(message.job_id)
            raise
        self.log.append((kind + ":end", message.job_id))

    @job(name="research")
    async def research(self, message):
        await self._work("research", message)

    @job(name="write", sequential=True)
    async def write(self, message):
        await self._work("write", message)

    @job(name="edit", sequential=True)
    async def edit(self, message):
        await self._work("edit", message)

    async def on_job_request(self, message):
        await self._work("default", message)


def started(server: Server) -> list[str]:
    return [job_id for kind, job_id in server.log if kind.endswith(":start")]


async def test_j1_named_handler_or_on_job_request(nursery):
    server = Server()
    events = record_events(server, "on_job_request")
    runner = await start_runner(nursery, server)
    for msg in (request("a", "research"), request("b", "unknown"), request("c")):
        runner.bus.send(msg)
    await settle()
    assert sorted(server.log) == [
        ("default:start", "b"),
        ("default:start", "c"),
        ("research:start", "a"),
    ]
    assert sorted(server.active_jobs) == ["a", "b", "c"]
    assert sorted(e[1].job_id for e in events) == ["a", "b", "c"]


async def test_j2_non_sequential_handlers_overlap(nursery):
    server = Server()
    runner = await start_runner(nursery, server)
    runner.bus.send(request("r1", "research"))
    runner.bus.send(request("r2", "research"))
    await settle()
    assert sorted(started(server)) == ["r1", "r2"]


async def test_j2_sequential_runs_one_at_a_time_in_arrival_order(nursery):
    server = Server()
    runner = await start_runner(nursery, server)
    for job_id in ("t1", "t2", "t3"):
        runner.bus.send(request(job_id, "write"))
    runner.bus.send(request("e1", "edit"))  # another sequential name: not blocked
    await settle()
    assert sorted(started(server)) == ["e1", "t1"]
    for job_id in ("t1", "t2", "t3", "e1"):
        server.release.setdefault(job_id, trio.Event()).set()
        await settle()
    assert [j for j in started(server) if j.startswith("t")] == ["t1", "t2", "t3"]
    writes = [entry for entry in server.log if entry[0].startswith("write")]
    assert writes == [
        ("write:start", "t1"),
        ("write:end", "t1"),
        ("write:start", "t2"),
        ("write:end", "t2"),
        ("write:start", "t3"),
        ("write:end", "t3"),
    ]
    assert server._job_server.sequential_lanes == {}  # nothing left behind


async def test_j2_order_holds_over_many_runs_and_a_cancelled_waiter(nursery):
    server = Server()
    runner = await start_runner(nursery, server)
    ids = [f"t{i}" for i in range(20)]
    for job_id in ids:
        runner.bus.send(request(job_id, "write"))
    await settle()
    # t5 is waiting for its turn when it is cancelled: it never runs, the rest keep order.
    runner.bus.send(BusJobCancelMessage(job_id="t5", source="req", target="w"))
    await settle()
    for job_id in ids:
        server.release.setdefault(job_id, trio.Event()).set()
        await settle()
    assert started(server) == [j for j in ids if j != "t5"]


async def test_j3_replies_target_the_requester_and_close_the_job(nursery):
    server = BaseWorker("w")
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    server.active_jobs["j1"] = request("j1")
    server.active_jobs["j2"] = request("j2")
    await server.send_job_update("j1", {"p": 1})
    await server.send_job_update("j1", {"p": 2}, urgent=True)
    await server.send_job_stream_start("j1", {"s": 0})
    await server.send_job_stream_data("j1", {"s": 1})
    await server.send_job_stream_end("j1", {"s": 2})
    assert "j1" not in server.active_jobs
    await server.send_job_response("j2", {"ok": True}, urgent=True)
    assert server.active_jobs == {}
    await settle()
    assert {type(m) for m in spy.seen} == {
        BusJobUpdateMessage,
        BusJobUpdateUrgentMessage,
        BusJobStreamStartMessage,
        BusJobStreamDataMessage,
        BusJobStreamEndMessage,
        BusJobResponseUrgentMessage,
    }
    assert all(m.target == "req" and m.source == "w" for m in spy.seen)
    [response] = spy.of(BusJobResponseUrgentMessage)
    assert response.status == JobStatus.COMPLETED and response.response == {"ok": True}
    for helper in (
        server.send_job_response,
        server.send_job_update,
        server.send_job_stream_start,
        server.send_job_stream_data,
        server.send_job_stream_end,
    ):
        with pytest.raises(RuntimeError, match="no active job"):
            await helper("nope")


async def test_j3_status_must_be_a_job_status(nursery):
    server = BaseWorker("w")
    await start_runner(nursery, server)
    server.active_jobs["j"] = request("j")
    with pytest.raises(ValueError):
        await server.send_job_response("j", status="bogus")
    await server.send_job_response("j", status="failed")
    assert server.active_jobs == {}


class Canceller(Server):
    def __init__(self):
        super().__init__()
        self.cancel_reasons = []

    async def on_job_cancelled(self, message):
        self.cancel_reasons.append(message.reason)


async def test_j4_cancel_cancels_handler_and_answers_cancelled(nursery):
    server = Canceller()
    events = record_events(server, "on_job_cancelled")
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    runner.bus.send(request("j", "research"))
    await settle()
    runner.bus.send(BusJobCancelMessage(job_id="j", reason="enough", source="req", target="w"))
    await settle()
    assert server.cancelled == ["j"]
    assert server.cancel_reasons == ["enough"]
    assert [e[1].reason for e in events] == ["enough"]
    [response] = spy.of(BusJobResponseMessage)
    assert response.status == JobStatus.CANCELLED and response.target == "req"
    assert server.active_jobs == {} and server._job_server.scopes == {}


async def test_j4_cancel_before_the_handler_ran_and_after_stream_end(nursery):
    server = Canceller()
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    # Handled in one bus turn: the handler task has not started when the cancel comes.
    await server._handle_job_request(request("early", "research"))
    await server._handle_job_cancel(BusJobCancelMessage(job_id="early", source="req"))
    await settle()
    assert "research:start" not in dict(server.log)
    assert server.cancel_reasons == [None]
    # A cancel after the stream ended is ignored.
    runner.bus.send(request("s", "research"))
    await settle()
    await server.send_job_stream_end("s")
    runner.bus.send(BusJobCancelMessage(job_id="s", source="req", target="w"))
    await settle()
    assert server.cancel_reasons == [None]
    assert [m.job_id for m in spy.of(BusJobResponseMessage)] == ["early"]


async def test_j5_update_request_only_while_active(nursery):
    class Progress(Server):
        async def on_job_update_requested(self, message):
            await self.send_job_update(message.job_id, {"pct": 50})

    server = Progress()
    events = record_events(server, "on_job_update_requested")
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    runner.bus.send(request("j", "research"))
    runner.bus.send(BusJobUpdateRequestMessage(job_id="j", source="req", target="w"))
    runner.bus.send(BusJobUpdateRequestMessage(job_id="other", source="req", target="w"))
    await settle()
    assert [m.update for m in spy.of(BusJobUpdateMessage)] == [{"pct": 50}]
    assert [e[1].job_id for e in events] == ["j"]


class Flaky(BaseWorker):
    def __init__(self):
        super().__init__("w")
        self.calls = 0

    @job(name="flaky")
    async def flaky(self, message):
        self.calls += 1
        if message.payload["fail"]:
            raise ValueError("bad input")
        await self.send_job_response(message.job_id, {"ok": True})


async def test_j6_raising_handler_answers_error_and_the_worker_keeps_serving(nursery, caplog):
    server = Flaky()
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    runner.bus.send(request("bad", "flaky", payload={"fail": True}))
    runner.bus.send(request("good", "flaky", payload={"fail": False}))
    await settle()
    responses = {m.job_id: m for m in spy.of(BusJobResponseMessage)}
    assert responses["bad"].status == JobStatus.ERROR
    assert responses["bad"].response == {"error": "ValueError: bad input"}
    assert responses["good"].status == JobStatus.COMPLETED
    assert server.job_handler_errors == 1 and "bad input" in caplog.text
    assert not server.finished and server.active_jobs == {}


async def test_j6_handler_that_answered_then_raised_sends_nothing_more(nursery):
    class AnswerThenRaise(BaseWorker):
        async def on_job_request(self, message):
            await self.send_job_response(message.job_id, {"done": 1})
            raise RuntimeError("after")

    server = AnswerThenRaise("w")
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    runner.bus.send(request("j"))
    await settle()
    assert [m.status for m in spy.of(BusJobResponseMessage)] == [JobStatus.COMPLETED]


async def test_j7_stopping_answers_cancelled_and_cancels_handlers(nursery):
    server = Server()
    spy = Spy()
    runner = await start_runner(nursery, server, BaseWorker("anchor"))
    runner.bus.subscribe(spy)
    runner.bus.send(request("j", "research"))
    await settle()
    await server.stop()
    await settle()
    assert server.cancelled == ["j"]
    [response] = spy.of(BusJobResponseMessage)
    assert (response.job_id, response.status, response.response) == ("j", "cancelled", None)
    assert server.finished


async def test_handler_returning_without_answer_keeps_job_open(nursery):
    class Later(BaseWorker):
        async def on_job_request(self, message):
            return None

    server = Later("w")
    runner = await start_runner(nursery, server)
    runner.bus.send(request("j"))
    await settle()
    assert list(server.active_jobs) == ["j"]
    await server.send_job_response("j")
    assert server.active_jobs == {}


async def test_duplicate_job_handlers_raise():
    class Twice(BaseWorker):
        @job(name="x")
        async def one(self, message):
            pass

        @job(name="x")
        async def two(self, message):
            pass

    with pytest.raises(ValueError, match="duplicate @job handler"):
        Twice("t")


async def test_subclass_override_replaces_the_handler():
    class Base(BaseWorker):
        @job(name="x")
        async def handle(self, message):
            pass

    class Child(Base):
        @job(name="x")
        async def handle(self, message):
            pass

    assert Child("c")._job_server.handlers["x"][0].__func__ is Child.handle


async def test_j4_cancel_reaches_a_handler_inside_its_own_scopes(nursery, autojump_clock):
    class Nested(BaseWorker):
        def __init__(self):
            super().__init__("w")
            self.reached = []

        async def on_job_request(self, message):
            with trio.move_on_after(1000):
                await trio.sleep(500)
                self.reached.append("slept")
            self.reached.append("after")

    server = Nested()
    spy = Spy()
    runner = await start_runner(nursery, server)
    runner.bus.subscribe(spy)
    runner.bus.send(request("j"))
    await trio.sleep(1)
    runner.bus.send(BusJobCancelMessage(job_id="j", source="req", target="w"))
    await settle()
    assert server.reached == []  # cancelled inside the inner scopes, not after them
    assert [m.status for m in spy.of(BusJobResponseMessage)] == [JobStatus.CANCELLED]
