"""The demo's [ok] lines claim only what happened: how each service ended is checked."""

from __future__ import annotations

import io
from functools import partial
from types import SimpleNamespace

import pytest
import trio

from trio_pipe.apps.bots import echo_app
from trio_pipe.apps.bots.turn_echo import turn_echo_stages
from trio_pipe.apps.demo import Progress, hosts
from trio_pipe.apps.demo.client import DemoClient
from trio_pipe.apps.demo.hosts import describe_ending
from trio_pipe.apps.demo.report import DemoReport
from trio_pipe.apps.demo.run import DemoConfig, StepFailed, _Demo, _Service, run_demo
from trio_pipe.serving import serve_asgi


async def _until_cancelled(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
    task_status.started()
    await trio.sleep_forever()


def _demo(nursery: trio.Nursery, end) -> _Demo:
    demo = _Demo(DemoConfig(), DemoReport(), nursery)
    demo.research = SimpleNamespace(runner=SimpleNamespace(end=end))  # type: ignore[assignment]
    return demo


async def test_shut_down_fails_when_the_research_runner_crashed(nursery: trio.Nursery) -> None:
    told = trio.Event()

    async def end(reason: str) -> None:
        told.set()

    async def crashes_when_ended(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await told.wait()
        raise RuntimeError("boom")

    demo = _demo(nursery, end)
    await nursery.start(demo.research_runner.run, crashes_when_ended)
    await nursery.start(demo.voice_server.run, _until_cancelled)
    await nursery.start(demo.research_server.run, _until_cancelled)
    with trio.fail_after(5), pytest.raises(StepFailed, match=r"did not end gracefully.*boom"):
        await demo.shut_down()


async def test_shut_down_passes_when_the_runner_returned(nursery: trio.Nursery) -> None:
    told = trio.Event()

    async def end(reason: str) -> None:
        told.set()

    async def returns_when_ended(*, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await told.wait()

    demo = _demo(nursery, end)
    await nursery.start(demo.research_runner.run, returns_when_ended)
    await nursery.start(demo.voice_server.run, _until_cancelled)
    await nursery.start(demo.research_server.run, _until_cancelled)
    with trio.fail_after(5):
        assert "ended gracefully" in await demo.shut_down()
    assert demo.voice_server.outcome == demo.research_server.outcome == "cancelled"


async def test_shut_down_fails_while_a_port_still_listens(nursery: trio.Nursery) -> None:
    async def end(reason: str) -> None:
        pass

    demo = _demo(nursery, end)
    for service in (demo.research_runner, demo.voice_server, demo.research_server):
        service.outcome = "returned"
        service.done.set()
    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        demo.ports.append(listener.getsockname()[1])
        with trio.fail_after(5), pytest.raises(StepFailed, match="still accepts connections"):
            await demo.shut_down()


async def test_a_service_failing_before_it_started_fails_the_starter(
    nursery: trio.Nursery,
) -> None:
    async def fails(*, task_status: trio.TaskStatus[None]) -> None:
        raise OSError("port taken")

    service = _Service()
    with trio.fail_after(5), pytest.raises(OSError, match="port taken"):
        await nursery.start(service.run, fails)
    assert service.outcome == "failed (OSError: port taken)"


def test_describe_ending() -> None:
    assert describe_ending(ExceptionGroup("g", [KeyError("k")])) == "failed (KeyError: 'k')"
    assert describe_ending(RuntimeError("x")) == "failed (RuntimeError: x)"


async def test_the_voice_turn_fails_against_a_bot_that_does_not_take_turns(
    nursery: trio.Nursery,
) -> None:
    # The plain echo streams the user's audio straight back, talking over them.
    served = await nursery.start(serve_asgi, echo_app("protobuf"))
    demo = _Demo(DemoConfig(), DemoReport(), nursery)
    demo.session = SimpleNamespace(echo=SimpleNamespace(replies=0))  # type: ignore[assignment]
    demo.client = client = DemoClient(served.ws_url("/ws"))
    with trio.fail_after(20):
        async with client:
            with pytest.raises(StepFailed, match="did not wait for the user to stop"):
                await demo.speak()
    turn = demo.report.turn
    assert turn is not None and turn.latency_s is not None and turn.latency_s < 0


async def test_the_barge_in_step_fails_when_the_bot_cannot_be_interrupted(monkeypatch) -> None:
    # The same turn-taking bot, but a user turn no longer interrupts its reply.
    stages = partial(turn_echo_stages, enable_interruptions=False)
    monkeypatch.setattr(hosts, "turn_echo_stages", stages)
    with trio.fail_after(60):
        report = await run_demo(DemoConfig(), Progress(io.StringIO()))
    ran = [(step.name, step.ok) for step in report.steps]
    assert ran[-3:] == [
        ("voice turn (VAD)", True),
        ("barge-in", False),
        ("nothing left running", True),
    ]
    assert report.failed is not None
    assert "never said it was interrupted" in report.failed.detail
