"""Jobs, requester side: groups, contexts, events, timeouts, cancels (checks Q1–Q8)."""

from __future__ import annotations

import uuid

import pytest
import trio
from worker_helpers import Spy, record_events, settle, start_runner

from trio_pipe.bus.messages import BusJobCancelMessage, BusJobRequestMessage, JobStatus
from trio_pipe.workers import (
    BaseWorker,
    JobError,
    JobEvent,
    JobGroupError,
    JobGroupEvent,
    JobGroupParams,
    JobGroupResponse,
    JobParams,
    WorkerActivationArgs,
)


class Scripted(BaseWorker):
    """Plays ``payload[<own name>]``: a list of (step, data)."""

    def __init__(self, name):
        super().__init__(name)
        self.cancelled = []

    async def on_job_request(self, message):
        job_id = message.job_id
        try:
            for step, data in (message.payload or {}).get(self.name, []):
                if step == "sleep":
                    await trio.sleep(data)
                elif step == "update":
                    await self.send_job_update(job_id, data)
                elif step == "respond":
                    await self.send_job_response(job_id, data)
                elif step == "fail":
                    await self.send_job_response(job_id, data, status=JobStatus.ERROR)
                elif step == "start":
                    await self.send_job_stream_start(job_id, data)
                elif step == "data":
                    await self.send_job_stream_data(job_id, data)
                elif step == "end":
                    await self.send_job_stream_end(job_id, data)
                elif step == "forever":
                    await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.append(job_id)
            raise


class Requester(BaseWorker):
    def __init__(self):
        super().__init__("req")
        self.completed: list[JobGroupResponse] = []
        self.errors = []

    async def on_job_completed(self, result):
        self.completed.append(result)

    async def on_job_error(self, message):
        self.errors.append(message)


@pytest.fixture
async def setup(nursery):
    req, w1, w2 = Requester(), Scripted("w1"), Scripted("w2")
    spy = Spy()
    runner = await start_runner(nursery, req, w1, w2)
    runner.bus.subscribe(spy)
    return runner, req, spy


def cancels(spy: Spy) -> list[tuple[str, str | None]]:
    return [(m.target, m.reason) for m in spy.of(BusJobCancelMessage)]


async def test_q1_group_waits_for_every_worker_then_sends_one_request_each(nursery):
    req, w1 = Requester(), Scripted("w1")
    spy = Spy()
    runner = await start_runner(nursery, req, w1)
    runner.bus.subscribe(spy)
    baseline = runner.registry.watch_count
    job_ids = []

    async def ask():
        params = JobGroupParams(name="research", payload={"q": 1})
        job_ids.append(await req.request_job_group("w1", "w2", params=params))

    nursery.start_soon(ask)
    await settle()
    assert spy.of(BusJobRequestMessage) == [] and job_ids == []
    await runner.add_workers(Scripted("w2"))
    await settle()
    sent = spy.of(BusJobRequestMessage)
    assert [m.target for m in sent] == ["w1", "w2"]
    assert {m.job_id for m in sent} == set(job_ids)
    assert uuid.UUID(job_ids[0]).version == 4
    assert all((m.job_name, m.payload, m.source) == ("research", {"q": 1}, "req") for m in sent)
    # Only the runner's own watch for w2 was added: the ready-wait removed its watch.
    assert runner.registry.watch_count == baseline + 1


async def test_q1_names_must_be_strings(setup):
    _, req, _ = setup
    with pytest.raises(TypeError):
        await req.request_job_group("w1", 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        req.job_group(["w1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        req.job(None)  # type: ignore[arg-type]


async def test_q2_not_ready_within_timeout(setup, autojump_clock):
    runner, req, _ = setup
    baseline = runner.registry.watch_count
    with pytest.raises(JobGroupError, match="not ready") as group_error:
        async with req.job_group("ghost", params=JobGroupParams(timeout=0.05)):
            pass
    assert not isinstance(group_error.value, JobError)
    with pytest.raises(JobError, match="not ready"):
        async with req.job("ghost", params=JobParams(timeout=0.05)):
            pass
    with pytest.warns(DeprecationWarning), pytest.raises(JobGroupError, match="not ready"):
        async with req.job_group("ghost", timeout=0.05):
            pass
    assert runner.registry.watch_count == baseline
    assert req.job_groups == {}


async def test_q3_group_collects_answers_stream_end_counts(setup):
    _, req, _ = setup
    events = record_events(req, "on_job_completed")
    payload = {"w1": [("sleep", 0), ("respond", {"a": 1})], "w2": [("end", {"b": 2})]}
    async with req.job_group("w1", "w2", params=JobGroupParams(payload=payload)) as group:
        pass
    assert group.responses == {"w1": {"a": 1}, "w2": {"b": 2}}
    assert [r.responses for r in req.completed] == [{"w1": {"a": 1}, "w2": {"b": 2}}]
    await settle()
    assert len(events) == 1 and events[0][1].job_id == group.job_id
    assert req.job_groups == {}
    assert group.group.terminated == {"w1", "w2"}


async def test_q4_events_in_arrival_order_until_complete(setup):
    _, req, _ = setup
    payload = {
        "w1": [("update", {"u": 1}), ("sleep", 0.01), ("respond", {})],
        "w2": [
            ("sleep", 0.001),
            ("start", {"s": 0}),
            ("sleep", 0.001),
            ("data", {"s": 1}),
            ("sleep", 0.001),
            ("end", {"s": 2}),
        ],
    }
    async with req.job_group("w1", "w2", params=JobGroupParams(payload=payload)) as group:
        seen = [(e.type, e.worker_name, e.data) async for e in group]
    assert seen == [
        (JobGroupEvent.UPDATE, "w1", {"u": 1}),
        (JobGroupEvent.STREAM_START, "w2", {"s": 0}),
        (JobGroupEvent.STREAM_DATA, "w2", {"s": 1}),
        (JobGroupEvent.STREAM_END, "w2", {"s": 2}),
    ]
    assert group.responses == {"w1": {}, "w2": {"s": 2}}


async def test_q4_single_job_events_and_response(setup):
    _, req, _ = setup
    payload = {"w1": [("update", {"u": 1}), ("respond", {"r": 1})]}
    async with req.job("w1", params=JobParams(payload=payload)) as task:
        seen = [e async for e in task]
    assert seen == [JobEvent(JobEvent.UPDATE, {"u": 1})]
    assert task.response == {"r": 1}
    assert JobEvent.STREAM_END == "stream_end" == JobGroupEvent.STREAM_END


async def test_q5_timeout_cancels_every_worker_and_raises(setup, autojump_clock):
    runner, req, spy = setup
    payload = {"w1": [("respond", {})], "w2": [("forever", None)]}
    t0 = trio.current_time()
    with pytest.raises(JobGroupError, match="timeout"):
        async with req.job_group("w1", "w2", params=JobGroupParams(payload=payload, timeout=2)):
            pass
    assert trio.current_time() - t0 == pytest.approx(2)
    await settle()
    assert sorted(cancels(spy)) == [("w1", "timeout"), ("w2", "timeout")]
    assert runner.get_worker("w2").cancelled != []
    assert req.job_groups == {}


async def test_q5_answer_before_timeout_sends_no_cancel(setup, autojump_clock):
    _, req, spy = setup
    payload = {"w1": [("sleep", 1), ("respond", {"ok": 1})]}
    async with req.job("w1", params=JobParams(payload=payload, timeout=2)) as task:
        pass
    assert task.response == {"ok": 1}
    await trio.sleep(5)
    assert cancels(spy) == []


async def test_q5_one_deadline_covers_ready_wait_and_answers(nursery, autojump_clock):
    req = Requester()
    runner = await start_runner(nursery, req)
    late = Scripted("late")

    async def add_later():
        await trio.sleep(1.5)
        await runner.add_workers(late)

    nursery.start_soon(add_later)
    t0 = trio.current_time()
    with pytest.raises(JobError, match="timeout"):
        async with req.job(
            "late", params=JobParams(payload={"late": [("forever", None)]}, timeout=2)
        ):
            pass
    assert trio.current_time() - t0 == pytest.approx(2)  # Pipecat: 3.5


async def test_q6_error_answer_cancels_group_and_keeps_payload(setup):
    _, req, spy = setup
    events = record_events(req, "on_job_error")
    payload = {"w1": [("forever", None)], "w2": [("fail", {"why": "broken"})]}
    with pytest.raises(JobGroupError, match="worker 'w2' errored"):
        async with req.job_group("w1", "w2", params=JobGroupParams(payload=payload)) as group:
            pass
    assert group.responses == {"w2": {"why": "broken"}}
    assert [m.source for m in req.errors] == ["w2"]
    await settle()
    assert sorted(cancels(spy)) == [("w1", "worker 'w2' errored"), ("w2", "worker 'w2' errored")]
    assert len(events) == 1
    assert req.completed == []


async def test_q6_error_without_cancel_on_error_counts_as_an_answer(setup):
    _, req, _ = setup
    payload = {"w1": [("respond", {"a": 1})], "w2": [("fail", None)]}
    params = JobGroupParams(payload=payload, cancel_on_error=False)
    async with req.job_group("w1", "w2", params=params) as group:
        pass
    assert group.responses == {"w1": {"a": 1}, "w2": {}}


async def test_q6_single_job_error_raises_job_error(setup):
    _, req, _ = setup
    with pytest.raises(JobError, match="errored") as info:
        async with req.job("w1", params=JobParams(payload={"w1": [("fail", {"e": 1})]})) as task:
            pass
    assert isinstance(info.value, JobGroupError)
    assert task.response == {"e": 1}


async def test_q7_block_raising_cancels_the_group(setup):
    _runner, req, spy = setup
    with pytest.raises(KeyError):
        async with req.job_group("w1", "w2", params=JobGroupParams(payload={})):
            raise KeyError("mine")
    await settle()
    assert sorted(cancels(spy)) == [
        ("w1", "context exited with error"),
        ("w2", "context exited with error"),
    ]
    assert req.job_groups == {}


async def test_q7_cancelled_from_outside_cancels_the_group(setup):
    runner, req, spy = setup
    payload = {"w1": [("forever", None)]}
    with trio.CancelScope() as outer:

        async def cancel_soon():
            await settle()
            outer.cancel()

        async with trio.open_nursery() as n:
            n.start_soon(cancel_soon)
            async with req.job("w1", params=JobParams(payload=payload)) as task:
                async for _ in task:
                    pass
    assert outer.cancelled_caught
    await settle()
    assert cancels(spy) == [("w1", "context exited with error")]
    assert req.job_groups == {}
    assert runner.get_worker("w1").cancelled == [task.job_id]


async def test_q7_cancelled_while_waiting_on_exit(setup):
    _, req, spy = setup
    with trio.move_on_after(0) as scope:
        async with req.job("w1", params=JobParams(payload={"w1": [("forever", None)]})):
            pass  # the wait happens in __aexit__
    assert scope.cancelled_caught
    await settle()
    assert cancels(spy) == [("w1", "context exited with error")]


async def test_q8_request_cancel_and_cancel_without_reason(setup):
    _, req, spy = setup
    assert await req.request_cancel_job_group("unknown") is False
    payload = {"w1": [("forever", None)]}
    params = JobGroupParams(payload=payload, cancellable=False, label="Research")
    job_id = await req.request_job_group("w1", params=params)
    assert req.job_groups[job_id].label == "Research"
    assert await req.request_cancel_job_group(job_id) is False
    await req.cancel_job_group(job_id)  # the worker itself may always cancel
    assert req.job_groups == {}
    with pytest.raises(JobGroupError, match="user"):
        async with req.job_group("w1", params=JobGroupParams(payload=payload)) as group:
            await settle()
            assert await req.request_cancel_job_group(group.job_id, reason="user") is True
    with pytest.raises(JobGroupError, match="cancelled"):
        async with req.job_group("w1", params=JobGroupParams(payload=payload)) as group:
            await req.cancel_job_group(group.job_id)
    await settle()
    assert cancels(spy)[-1] == ("w1", "cancelled")


async def test_request_job_and_update_request(setup):
    runner, req, spy = setup
    job_id = await req.request_job("w1", params=JobParams(payload={"w1": [("forever", None)]}))
    await settle()
    assert list(runner.get_worker("w1").active_jobs) == [job_id]
    await req.request_job_update(job_id, "w1")
    await settle()
    assert [m.job_id for m in spy.seen if type(m).__name__ == "BusJobUpdateRequestMessage"] == [
        job_id
    ]


async def test_context_properties_before_entry(setup):
    _, req, _ = setup
    ctx = req.job_group("w1")
    with pytest.raises(RuntimeError):
        ctx.job_id  # noqa: B018
    with pytest.raises(RuntimeError):
        ctx.responses  # noqa: B018
    with pytest.raises(RuntimeError):
        req.job("w1").response  # noqa: B018


async def test_a_stopping_requester_fails_its_groups(setup):
    _, req, spy = setup
    errors = []

    async def ask():
        try:
            async with req.job("w1", params=JobParams(payload={"w1": [("forever", None)]})):
                pass
        except JobError as exc:
            errors.append(str(exc))

    async with trio.open_nursery() as n:
        n.start_soon(ask)
        await settle()
        await req.stop()
    assert errors == ["worker 'req' stopped"]
    await settle()
    assert cancels(spy) == [("w1", "worker 'req' stopped")]


# --- data types ---------------------------------------------------------------------------


def test_job_params_validation_and_group_conversion():
    params = JobParams(name="x", payload={"a": 1}, timeout=1, label="L", cancellable=False)
    group = JobGroupParams.from_job_params(params)
    assert (group.name, group.payload, group.timeout, group.label, group.cancellable) == (
        "x",
        {"a": 1},
        1,
        "L",
        False,
    )
    assert group.cancel_on_error is True
    with pytest.raises(TypeError):
        JobParams(payload=[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        JobParams(timeout=-1)
    with pytest.raises(TypeError):
        JobParams("x")  # type: ignore[misc]


async def test_deprecated_keywords_warn_and_clash_with_params(setup):
    _, req, _ = setup
    with pytest.warns(DeprecationWarning, match="payload="):
        req.job("w1", payload={"w1": []})
    with pytest.raises(TypeError, match="not both"):
        req.job_group("w1", params=JobGroupParams(), cancel_on_error=False)


def test_worker_activation_args_dicts():
    assert WorkerActivationArgs.from_dict({"metadata": {"a": 1}, "other": 2}).metadata == {"a": 1}
    assert WorkerActivationArgs().to_dict() == {}
    assert WorkerActivationArgs(metadata={"a": 1}).to_dict() == {"metadata": {"a": 1}}
