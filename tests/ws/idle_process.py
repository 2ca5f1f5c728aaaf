"""Shared by the keepalive tests: a silent trio_pipe client process (idle_ws_client.py)
to freeze with SIGSTOP while its session is idle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

CLIENT = Path(__file__).parent / "idle_ws_client.py"


@asynccontextmanager
async def idle_client(mode: str, url: str) -> AsyncIterator[trio.Process]:
    """Start ``idle_ws_client.py mode url``; yields once it printed "ready". On exit the
    process is killed (and continued, if the test froze it)."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, str(CLIENT), mode, url], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        line = b""
        with trio.fail_after(15):
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
