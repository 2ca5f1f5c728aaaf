"""Pure parts of failing fast after a refused handshake: the proxy client's bookkeeping of
forwarded jobs, and the registry's unreachable marks."""

from __future__ import annotations

from trio_pipe.bus.messages import (
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamEndMessage,
    BusJobUpdateMessage,
    JobStatus,
)
from trio_pipe.registry import WorkerRegistry
from trio_pipe.workers.proxy.forwarded import ForwardedJobs, error_answer


def request(job_id: str, source: str = "voice") -> BusJobRequestMessage:
    return BusJobRequestMessage(job_id=job_id, source=source, target="worker")


def test_open_jobs_close_on_their_final_answer_or_cancel_and_the_rest_fail():
    jobs = ForwardedJobs()
    for job_id, source in (("a", "voice"), ("b", "ui"), ("c", "voice"), ("d", "voice")):
        jobs.sent(request(job_id, source))
    jobs.received(BusJobUpdateMessage(job_id="a", source="worker", target="voice"))  # not final
    jobs.received(
        BusJobResponseMessage(
            job_id="c", status=JobStatus.COMPLETED, source="worker", target="voice"
        )
    )
    jobs.received(BusJobStreamEndMessage(job_id="d", source="worker", target="voice"))
    jobs.sent(BusJobCancelMessage(job_id="x", source="voice", target="worker"))  # unknown: ok
    assert len(jobs) == 2
    answers = jobs.fail_all("refused")
    assert [(m.job_id, m.source, m.target, m.status, m.response) for m in answers] == [
        ("a", "worker", "voice", JobStatus.ERROR, {"error": "refused"}),
        ("b", "worker", "ui", JobStatus.ERROR, {"error": "refused"}),
    ]
    assert len(jobs) == 0 and jobs.fail_all("again") == []


def test_a_cancel_closes_a_job():
    jobs = ForwardedJobs()
    jobs.sent(request("a"))
    jobs.sent(BusJobCancelMessage(job_id="a", source="voice", target="worker"))
    assert len(jobs) == 0
    assert error_answer(request("z"), "why").response == {"error": "why"}


def test_registry_unreachable_marks_tell_watchers_once_marked_and_clear():
    registry = WorkerRegistry("here")
    heard: list[tuple[str, str]] = []

    def broken(name: str, reason: str) -> None:
        raise RuntimeError("boom")

    registry.watch_unreachable("worker", broken)
    registry.watch_unreachable("worker", lambda n, r: heard.append((n, r)))
    assert registry.unreachable("worker") is None
    registry.mark_unreachable("worker", "HTTP 401")
    assert heard == [("worker", "HTTP 401")] and registry.watch_errors == 1
    assert registry.unreachable("worker") == "HTTP 401"
    registry.unwatch_unreachable("worker", broken)
    registry.unwatch_unreachable("worker", broken)  # unknown: ignored
    registry.mark_reachable("worker")
    assert registry.unreachable("worker") is None
