"""The interop harness: Pipecat 1.14 as a live peer, in its own interpreter.

Pipecat runs under the interpreter named by ``PIPECAT_PYTHON`` (``scripts/test`` creates
``.venv-pipecat`` with ``pipecat-ai[websocket]==1.14.0`` and sets it; without the variable
``.venv-pipecat`` is used if it is there). Without a working Pipecat 1.14 every test that
asks for the ``pipecat`` fixture fails, saying what is missing; only a local run with
``TRIO_PIPE_NO_PIPECAT=1`` (and not CI) skips them (``tests/required_services.py``).

Two shapes of peer, both through the ``pipecat`` fixture (a :class:`PipecatPeer`):

* one-shot: ``pipecat.run_json(script, request, *args)`` writes ``request`` as JSON to the
  script's stdin and returns the JSON document on the last line of its stdout;
* long-running (servers for proxy and transport tests)::

      async with pipecat.open(script, *args, ready="ready") as peer:
          line = await peer.readline()      # the script's next stdout line
          await peer.send_line("...")       # a line to its stdin

  ``open`` returns once the script printed the ``ready`` line (or at once without one),
  and kills the script when the block exits. Its stderr is kept for failure messages.

``script`` is a :class:`~pathlib.Path` to a file (peers live next to the tests, named
``pipecat_*_peer.py``) or Python source as a string. The peer's stdout is the channel to
the test, so a script should silence loguru (``logger.remove()``) before importing Pipecat.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from required_services import pipecat_interpreter

#: Seconds a peer may take to answer: a safety net against hangs, not a timing assertion
#: (importing Pipecat alone takes a second or more on a busy machine).
PEER_TIMEOUT = 60.0

HERE = Path(__file__).parent


class PipecatPeerError(RuntimeError):
    """The Pipecat side failed, exited early or said nothing; carries its stderr."""


def _command(python: str, script: Path | str, args: Sequence[str]) -> list[str]:
    if isinstance(script, Path):
        return [python, str(script), *map(str, args)]
    return [python, "-c", script, *map(str, args)]


def _env() -> dict[str, str]:
    # Unbuffered, so that a long-running peer's lines arrive as it prints them.
    return dict(os.environ, LOGURU_LEVEL="ERROR", PYTHONUNBUFFERED="1")


class PipecatProcess:
    """A long-running Pipecat script; run it with ``nursery.start(proc.run)``."""

    def __init__(self, command: list[str], ready: str | None, limit: float) -> None:
        self.command = command
        self.ready = ready
        self.limit = limit
        self.stderr = b""
        self.returncode: int | None = None
        self._process: trio.Process | None = None
        self._send, self._lines = trio.open_memory_channel[str](math.inf)

    async def run(self, *, task_status: trio.TaskStatus[PipecatProcess] = trio.TASK_STATUS_IGNORED):
        """Start the script, report started at its ``ready`` line, pass on its lines until
        it exits. Cancelling this kills the script (``trio.run_process`` does that)."""
        started = self.ready is None
        async with trio.open_nursery() as nursery:
            run = partial(
                trio.run_process,
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(),
                check=False,
            )
            process: trio.Process = await nursery.start(run)
            self._process = process
            nursery.start_soon(self._read_stderr, process)
            if started:
                task_status.started(self)
            buffer = b""
            assert process.stdout is not None
            async for chunk in process.stdout:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    if not started and line.strip() == self.ready:
                        started = True
                        task_status.started(self)
                    else:
                        self._send.send_nowait(line)
            self._send.close()
            self.returncode = await process.wait()
        if not started:  # raised outside the nursery, so the caller sees this error itself
            raise PipecatPeerError(self._describe(f"exited before printing {self.ready!r}"))

    async def _read_stderr(self, process: trio.Process) -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            self.stderr += chunk

    def _describe(self, what: str) -> str:
        tail = self.stderr.decode("utf-8", "replace")[-3000:]
        return f"Pipecat peer {what} (exit code {self.returncode}):\n{tail}"

    async def readline(self) -> str:
        """The script's next stdout line (without the newline).

        Waits at most the peer's ``limit`` (a hang guard); wrap the call in your own
        cancel scope for a tighter one.
        """
        try:
            with trio.fail_after(self.limit):
                return await self._lines.receive()
        except trio.EndOfChannel:
            raise PipecatPeerError(self._describe("exited")) from None
        except trio.TooSlowError:
            raise PipecatPeerError(self._describe("printed nothing in time")) from None

    async def read_json(self) -> Any:
        """The script's next stdout line, parsed as JSON."""
        return json.loads(await self.readline())

    async def send_line(self, line: str) -> None:
        """Write one line to the script's stdin."""
        assert self._process is not None and self._process.stdin is not None
        await self._process.stdin.send_all(line.encode() + b"\n")


class PipecatPeer:
    """Runs Python code under Pipecat 1.14's interpreter."""

    Error = PipecatPeerError

    def __init__(self, python: str) -> None:
        self.python = python

    def run_json(
        self, script: Path | str, request: Any = None, *args: str, timeout: float = PEER_TIMEOUT
    ) -> Any:
        """Run ``script`` once with ``request`` (JSON) on stdin; return its last stdout line
        parsed as JSON. Raises :class:`PipecatPeerError` with its stderr if it fails."""
        proc = subprocess.run(
            _command(self.python, script, args),
            input="" if request is None else json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env(),
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise PipecatPeerError(
                f"Pipecat peer failed (exit code {proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        return json.loads(lines[-1])

    @asynccontextmanager
    async def open(
        self,
        script: Path | str,
        *args: str,
        ready: str | None = None,
        limit: float = PEER_TIMEOUT,
    ) -> AsyncIterator[PipecatProcess]:
        """Start a long-running script; yield it once ready; kill it when the block exits.

        ``limit`` bounds the wait for ``ready`` and for each ``readline`` (a hang guard).
        """
        process = PipecatProcess(_command(self.python, script, args), ready, limit)
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(limit):
                    await nursery.start(process.run)
                yield process
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Hand the test its own error, not a group around it.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise


@pytest.fixture(scope="session")
def pipecat_python() -> str:
    """The interpreter with pipecat-ai 1.14 installed; fails the test when there is none
    (skips only when opted out outside CI: ``tests/required_services.py``)."""
    return pipecat_interpreter()


@pytest.fixture(scope="session")
def pipecat(pipecat_python: str) -> PipecatPeer:
    """Run scripts under Pipecat 1.14 (see the module docstring)."""
    return PipecatPeer(pipecat_python)
