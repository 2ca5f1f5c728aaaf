"""WorkerRunner takes over SIGINT only as the program's main task (or when asked)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import trio

from trio_pipe.workers import WorkerRunner


def _sigint_taken_over(runner: WorkerRunner, embedded: bool) -> bool:
    """Run ``runner`` under a fresh ``trio.run``: did SIGINT's handler change (from
    Trio's own) once it was ready?"""
    seen: list[Callable[..., Any] | int | None] = []

    @runner.event_handler("on_ready")
    async def ready(runner: WorkerRunner) -> None:
        seen.append(signal.getsignal(signal.SIGINT))
        await runner.cancel("done")

    async def main() -> None:
        seen.append(signal.getsignal(signal.SIGINT))  # Trio's own
        with trio.fail_after(30):
            if embedded:  # like a session handler in a served app
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(runner.run)
            else:
                await runner.run()

    trio.run(main)
    return seen[1] is not seen[0]


def test_an_embedded_runner_leaves_sigint_alone() -> None:
    assert not _sigint_taken_over(WorkerRunner(), embedded=True)


def test_the_main_task_runner_handles_sigint() -> None:
    assert _sigint_taken_over(WorkerRunner(), embedded=False)


def test_asked_explicitly_an_embedded_runner_handles_sigint() -> None:
    assert _sigint_taken_over(WorkerRunner(handle_sigint=True), embedded=True)
