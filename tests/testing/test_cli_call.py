"""``trio-pipe call`` against the echo bots, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.testing.bots import echo_bot
from tests.testing.conftest import Serve
from trio_pipe.audio import parse_wav


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_pipe", "call", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["protobuf", "twilio", "raw"])
async def test_call_an_echo_bot(serve: Serve, tmp_path: Path, protocol: str) -> None:
    url = await serve(echo_bot(protocol))
    out = tmp_path / "reply.wav"
    argv = [url, "--protocol", protocol, "--tone", "0.3", "--trailing-silence", "0"]
    argv += ["--tail-silence", "0.3", "--turns", "2", "--out", str(out), "--json"]
    if protocol == "raw":
        argv += ["--out-rate", "16000"]  # the raw echo bot sends back what it got, at 16 kHz
    done = await trio.to_thread.run_sync(lambda: call(*argv))
    assert done.returncode == 0, done.stderr
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert [t["turn"] for t in turns] == [1, 2]
    for turn in turns:
        assert turn["sent_s"] == pytest.approx(0.3)
        assert turn["received_s"] == pytest.approx(0.3, abs=0.03)
        assert turn["ended_by"] == "tail_silence"
        # an echo bot talks over the user: its first audio arrives ~0.3 s before the end
        assert -320 <= turn["latency_ms"] < -200
    wav = parse_wav(out.read_bytes())
    assert wav is not None and wav.sample_rate == 24000 and wav.num_channels == 1
    assert len(wav.pcm) / 48000 == pytest.approx(0.6, abs=0.06)


async def test_call_prints_readable_lines(serve: Serve) -> None:
    url = await serve(echo_bot("protobuf"))
    argv = [url, "--utterance", "0.2", "--trailing-silence", "0", "--tail-silence", "0.2"]
    done = await trio.to_thread.run_sync(lambda: call(*argv))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("turn 1: sent 0.20 s, received 0.2")
    assert "ended by tail_silence" in done.stdout
    assert "before the end of speech (overlap)" in done.stdout


def test_refused_connection_is_one_line() -> None:
    done = call(f"ws://127.0.0.1:{closed_port()}/ws", "--tone", "0.1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trio-pipe call: cannot connect to ws://")
    assert "Traceback" not in done.stderr


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    not_wav = tmp_path / "x.wav"
    not_wav.write_bytes(b"hello")
    for argv, expected in [
        (["ws://127.0.0.1:9/ws", "--wav", str(not_wav)], "not a PCM16 WAV file"),
        (["ws://127.0.0.1:9/ws", "--wav", str(tmp_path / "missing.wav")], "cannot read"),
        (["http://127.0.0.1:9/", "--tone", "0.1"], "trio-pipe call:"),
        (["ws://127.0.0.1:9/ws", "--turns", "0"], "--turns must be at least 1"),
    ]:
        done = call(*argv)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
