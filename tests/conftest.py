"""Shared test fixtures, and the deadline every test runs under.

Deadlines: every Trio test runs under a wall-clock deadline (``tests/deadlines.py``: 60 s,
``@pytest.mark.deadline(seconds)`` for another) that cancels it and fails it as hung, so
a socket that never answers fails its test instead of hanging the run. pytest-timeout
(``timeout`` in pyproject.toml) is the backstop for any test, Trio or not, stuck outside
a checkpoint: it prints every stack and ends the run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import trio
from deadlines import TEST_DEADLINE, run_with_deadline
from required_services import NO_REDIS, missing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deadline(seconds): this Trio test's wall-clock deadline (default 60)"
    )


@pytest.hookimpl(trylast=True)  # after pytest-trio marked the Trio tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("trio") is None:
            continue
        marker = item.get_closest_marker("deadline")
        seconds = float(marker.args[0]) if marker else TEST_DEADLINE
        # First, so that pytest-trio takes its run over the plain trio.run it marked.
        run = run_with_deadline(seconds, item.nodeid)
        item.add_marker(pytest.mark.trio(run=run), append=False)


def _walk(task: trio.lowlevel.Task) -> set[trio.lowlevel.Task]:
    found = {task}
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found |= _walk(child)
    return found


@pytest.fixture
def live_tasks() -> Callable[[], set[trio.lowlevel.Task]]:
    """A function returning every task alive in this run (walks from the root task).

    Compare before/after a component's ``run`` to prove it left nothing running.
    """

    def collect() -> set[trio.lowlevel.Task]:
        return _walk(trio.lowlevel.current_root_task())

    return collect


# --- a throwaway redis-server ----------------------------------------------------------


class RedisServer:
    """A ``redis-server`` on a free loopback port, without persistence, owned by one test.

    ``kill()`` stops it abruptly (as a crash would) and ``await restart()`` brings it back
    on the same port, for tests of reconnection.
    """

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def _spawn(self) -> None:
        options = f"--port {self.port} --bind 127.0.0.1 --appendonly no".split()
        self.proc = subprocess.Popen(
            [self.executable, *options, "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start on a fresh free port and wait until it answers PING (sync, for fixtures)."""
        for _ in range(5):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            self._spawn()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._pong():
                    return
                time.sleep(0.02)
            self.kill()  # the port was taken meanwhile, or it is slow: try another one
        raise RuntimeError("redis-server did not start")

    async def restart(self) -> None:
        """Start again on the same port and wait (without blocking Trio) until it answers."""
        self._spawn()
        with trio.fail_after(10):
            # Polling an external process: there is nothing to wait on but the port.
            while not await trio.to_thread.run_sync(self._pong):  # noqa: ASYNC110
                await trio.sleep(0.02)

    def kill(self) -> None:
        """Stop at once, like a crash (connections are reset, nothing is flushed)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A running redis-server for this test. Without one the test fails (skips only when
    opted out outside CI: ``tests/required_services.py``)."""
    executable = shutil.which("redis-server")
    if executable is None:
        missing(
            "redis-server is not installed",
            "apt-get install redis-server (.ci/run does this)",
            NO_REDIS,
        )
    server = RedisServer(executable)
    server.start()
    try:
        yield server
    finally:
        server.kill()
