"""An app built on trio_pipe refuses to start on asyncio with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from trio_pipe.serving import TRIO_ONLY, require_trio

HERE = Path(__file__).parent


def hypercorn(worker_class: str) -> list[str]:
    # --workers 0: serve in Hypercorn's own process (no worker process left behind
    # when the test kills it)
    return [sys.executable, "-m", "hypercorn", "--workers", "0", "--worker-class", worker_class]


async def test_under_the_asyncio_worker_startup_fails_with_one_line() -> None:
    argv = [*hypercorn("asyncio"), "--bind", "127.0.0.1:0", "trio_only_app:app"]
    with trio.fail_after(60):
        done = await trio.run_process(
            argv, cwd=HERE, capture_stdout=True, capture_stderr=True, check=False
        )
    # Hypercorn's parent process exits once its worker did; what it shows is one line
    text = (done.stderr.decode() + done.stdout.decode()).strip()
    assert text == f"error: {TRIO_ONLY}", text


async def test_under_the_trio_worker_it_serves() -> None:
    argv = [*hypercorn("trio"), "--bind", "127.0.0.1:0", "trio_only_app:app"]
    proc = await trio.lowlevel.open_process(argv, cwd=HERE, stderr=subprocess.PIPE)
    try:
        seen = b""
        with trio.fail_after(60):
            while b"Running on" not in seen:
                chunk = await proc.stderr.receive_some(4096)
                assert chunk, seen
                seen += chunk
        assert TRIO_ONLY.encode() not in seen
    finally:
        proc.kill()
        with trio.fail_after(30):
            await proc.wait()


async def test_a_non_lifespan_scope_off_trio_raises_the_line() -> None:
    app = require_trio(lambda scope, receive, send: None)  # never reached off Trio
    import asyncio

    async def call() -> None:
        await app({"type": "websocket"}, None, None)

    with pytest.raises(RuntimeError, match="runs on Trio"):
        await trio.to_thread.run_sync(asyncio.run, call())
