"""A client in a process of its own, for the tests that freeze one with SIGSTOP."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

_READY_WITHIN = 15  # seconds: a hang guard for a process that never gets ready


@asynccontextmanager
async def ready_process(argv: Sequence[str]) -> AsyncIterator[trio.Process]:
    """Start ``argv``; yields once it printed "ready". On exit the process is killed (and
    continued, if the test froze it)."""
    proc = await trio.lowlevel.open_process(list(argv), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = b""
        with trio.fail_after(_READY_WITHIN):
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some()
                assert chunk, f"the client exited before it was ready: {line!r}"
                line += chunk
        assert line == b"ready\n", line
        yield proc
    finally:
        proc.kill()
        os.kill(proc.pid, signal.SIGCONT)
        with trio.CancelScope(shield=True):
            await proc.wait()
            await proc.stdout.aclose()


def freeze(proc: trio.Process) -> None:
    """Stop the process: its kernel still answers for its sockets, nothing else does."""
    os.kill(proc.pid, signal.SIGSTOP)
