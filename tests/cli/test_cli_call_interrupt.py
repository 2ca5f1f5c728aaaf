"""``trio-pipe call`` interrupted (SIGINT) still writes the replies it recorded."""

from __future__ import annotations

import signal
import subprocess
import sys
import wave
from pathlib import Path

import trio

TRIO_PIPE = [sys.executable, "-m", "trio_pipe"]


async def read_line(stream: trio.abc.ReceiveStream) -> str:
    data = b""
    with trio.fail_after(60):
        while not data.endswith(b"\n"):
            chunk = await stream.receive_some(1)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


async def test_interrupted_call_writes_what_it_recorded(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    server = await trio.lowlevel.open_process(
        [*TRIO_PIPE, "serve", "--port", "0", "--protocol", "raw", "--echo", "plain"],
        stdout=subprocess.PIPE,
    )
    try:
        url = await read_line(server.stdout)
        options = ["--tone", "0.3", "--turns", "100", "--trailing-silence", "0"]
        options += ["--tail-silence", "0.3", "--out", str(out)]
        call = await trio.lowlevel.open_process(
            [*TRIO_PIPE, "call", url, "--protocol", "raw", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        first = await read_line(call.stdout)
        assert first.startswith("turn 1:"), first
        call.send_signal(signal.SIGINT)
        with trio.fail_after(30):
            code = await call.wait()
        errors = (await call.stderr.receive_some(65536)).decode()
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await server.wait()
    assert code == 130, errors
    assert "interrupted after" in errors and "wrote" in errors
    with wave.open(str(out)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds >= 0.25  # at least the first turn's reply (0.3 s echoed)
