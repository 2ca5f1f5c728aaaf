"""The interop harness itself: the peer is Pipecat 1.14, one-shot and long-running scripts work,
failures carry the peer's stderr, and a long-running peer is gone when its block exits."""

from __future__ import annotations

from typing import Any

import pytest

PipecatPeer = Any  # the ``pipecat`` fixture (tests/interop/conftest.py)

ECHO = r"""
import sys
from loguru import logger
logger.remove()
import pipecat
print("ready", flush=True)
print(pipecat.__version__)
for line in sys.stdin:
    print("echo:" + line.strip())
"""


def test_the_peer_is_pipecat_1_14(pipecat: PipecatPeer) -> None:
    script = (
        "import json, sys, pipecat; print(json.dumps([pipecat.__version__, json.load(sys.stdin)]))"
    )
    assert pipecat.run_json(script, {"x": 1}) == ["1.14.0", {"x": 1}]


def test_a_failing_one_shot_script_reports_its_stderr(pipecat: PipecatPeer) -> None:
    with pytest.raises(pipecat.Error, match="boom"):
        pipecat.run_json("raise SystemExit('boom')")


async def test_a_long_running_script(pipecat: PipecatPeer) -> None:
    async with pipecat.open(ECHO, ready="ready") as peer:
        assert await peer.readline() == "1.14.0"
        await peer.send_line("hello")
        assert await peer.readline() == "echo:hello"
        process = peer._process
    assert process is not None and process.returncode is not None  # killed and reaped


async def test_a_script_that_exits_early_reports_its_stderr(pipecat: PipecatPeer) -> None:
    with pytest.raises(pipecat.Error, match="nope"):
        async with pipecat.open("import sys; sys.exit('nope')", ready="ready"):
            pass  # pragma: no cover
    async with pipecat.open("print('one')") as peer:
        assert await peer.readline() == "one"
        with pytest.raises(pipecat.Error, match="exited"):
            await peer.readline()
