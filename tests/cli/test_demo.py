"""trio-pipe demo: the whole stack in a subprocess, exit status and report."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from trio_pipe.cli import SUBCOMMANDS, build_parser

STEPS = [
    "research host up",
    "voice bot up",
    "client connected",
    "proxy reaches research",
    "proxy refuses a stranger",
    "voice turn (VAD)",
    "barge-in",
    "UI job group on the proxied worker",
    "client hung up",
    "servers shut down",
    "nothing left running",
]


def test_demo_runs_end_to_end_and_reports():
    env = {**os.environ, "NO_COLOR": "1"}
    # The timeout is a hang guard for CI, not a speed assertion.
    done = subprocess.run(
        [sys.executable, "-m", "trio_pipe", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert done.stderr == ""  # library logs stay quiet by default
    lines = out.splitlines()
    # Not a terminal: one plain line per step, in order, all ok.
    step_lines = [line for line in lines if line.startswith("[")]
    assert [re.sub(r"^\[ok\] ([^:]+):.*$", r"\1", line) for line in step_lines] == STEPS
    report = {line[:14].strip(): line[15:] for line in lines if line and not line.startswith("[")}
    assert report["voice bot"].startswith("ws://127.0.0.1:")
    assert report["research host"].startswith("ws://127.0.0.1:")
    # the bot waits for the user to stop (VAD), and the client's turn ends by VAD too
    answered = re.match(
        r"first reply audio [\d.]+ ms after the user began, ([\d.]+) ms after the user "
        r"finished$",
        report["turn latency"],
    )
    assert answered is not None and float(answered.group(1)) > 0
    sent, received = map(
        float, re.match(r"sent ([\d.]+) s, received ([\d.]+) s", report["audio"]).groups()
    )
    assert sent == 1.5 and received >= 0.9 * sent
    assert report["audio"].endswith("(ended by voice_ended)")
    turn = next(line for line in step_lines if "voice turn (VAD)" in line)
    assert turn.endswith("turn ended by voice activity")
    late = re.search(r"(\d+) chunks? after bot-interrupted", report["barge-in"])
    assert late is not None and int(late.group(1)) <= 2
    assert re.match(r"p50 [\d.]+ ms, max [\d.]+ ms over \d+ chunks", report["pacing error"])
    assert report["jobs run"].startswith(
        "1 on 'research' through the proxy (3 progress updates, 2 results"
    )
    assert report["messages"].startswith("voice session bus: ")
    assert "research host bus: " in out and "proxy socket: sent 1, received 5" in out
    assert report["left running"].startswith("nothing (0 tasks, 0 sockets")
    assert report["result"] == f"PASS ({len(STEPS)}/{len(STEPS)} steps)"


def test_demo_is_the_first_subcommand():
    assert next(iter(SUBCOMMANDS)) == "demo"
    assert "demo" in build_parser().format_help()


def test_demo_rejects_a_bad_argument_in_one_line(capsys):
    from trio_pipe.cli import main

    assert main(["demo", "--seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trio-pipe demo: ") and err.count("\n") == 1
