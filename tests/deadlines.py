"""The wall-clock deadline every Trio test runs under (hooked in by ``tests/conftest.py``).

A test past its deadline is cancelled (so its nurseries unwind and its sockets close) and
fails with :class:`HungTest`, naming itself and the deadline. The deadline is wall-clock
time, not Trio's clock: a test on ``autojump_clock`` may wait hours of virtual time.
``TRIO_PIPE_TEST_DEADLINE`` sets the default (seconds).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import trio

#: Wall-clock seconds a Trio test may run before it is cancelled and failed as hung.
TEST_DEADLINE = float(os.environ.get("TRIO_PIPE_TEST_DEADLINE", "60"))


class HungTest(AssertionError):
    """A test ran past its deadline and was cancelled."""


def run_with_deadline(seconds: float, name: str) -> Callable[..., Any]:
    """A ``trio.run`` that cancels the test after ``seconds`` of wall-clock time and fails
    it with :class:`HungTest` (pytest-trio calls it with ``clock`` and ``instruments``)."""

    def run(fn: Callable[[], Any], **kwargs: Any) -> Any:
        async def bounded() -> Any:
            token = trio.lowlevel.current_trio_token()
            scope = trio.CancelScope()

            def expire() -> None:
                try:
                    token.run_sync_soon(scope.cancel)
                except trio.RunFinishedError:
                    pass  # the test finished as the deadline came

            timer = threading.Timer(seconds, expire)
            timer.daemon = True
            timer.start()
            try:
                with scope:
                    result = await fn()
            except BaseException as exc:
                if scope.cancel_called:
                    raise HungTest(_hung(name, seconds)) from exc
                raise
            finally:
                timer.cancel()
            if scope.cancel_called:  # it went past the deadline, whatever it did then
                raise HungTest(_hung(name, seconds))
            return result

        return trio.run(bounded, **kwargs)

    run.deadline = seconds  # type: ignore[attr-defined]
    return run


def _hung(name: str, seconds: float) -> str:
    return (
        f"{name} did not finish within its {seconds:g} s deadline (wall clock) and was"
        " cancelled: something it awaited never came (a socket, a peer, an event)"
    )
