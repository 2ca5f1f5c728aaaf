"""Ctrl-C on ``trio-pipe demo`` and the long-running examples: one line on stderr, exit
status 130, no traceback (issue 13, item 9). Each program runs as a real process and
gets a real SIGINT once it shows it is up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60  # a hang guard for an interpreter starting up, not a timing assertion


def interrupt_when_up(command: list[str], up: str) -> tuple[int, str, str]:
    """Run ``command``; once a stdout line contains ``up``, send SIGINT; return
    (status, stdout, stderr)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "PROXY_TOKEN": "t"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # ends if the process dies first
            seen.append(line)
            if up in line:
                break
        assert seen and up in seen[-1], "".join(seen)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=LIMIT)
        return process.returncode, "".join(seen) + out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("command", "up", "message"),
    [
        (
            [sys.executable, "-m", "trio_pipe", "demo", "--plain"],
            "[ok] client connected",
            "trio-pipe demo: interrupted",
        ),
        (
            [sys.executable, "examples/proxy_server.py", "--port", "0"],
            "research host on ws://",
            "proxy_server: interrupted",
        ),
        (
            [sys.executable, "examples/ui_jobs/server.py", "--port", "0"],
            "UI jobs demo on ws://",
            "ui_jobs server: interrupted",
        ),
    ],
    ids=["demo", "proxy_server", "ui_jobs_server"],
)
def test_ctrl_c_stops_with_one_line_and_status_130(command, up, message):
    status, out, err = interrupt_when_up(command, up)
    assert status == 130, out + err
    assert "Traceback" not in err and "ExceptionGroup" not in err, err
    assert err.splitlines()[-1] == message
    # the only lines besides it are the servers' own startup logs
    assert all("Running on" in line for line in err.splitlines()[:-1]), err
