"""``trio-pipe serve`` as a subprocess, called by ``trio-pipe call`` as a subprocess."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest
import trio

SERVE = [sys.executable, "-m", "trio_pipe", "serve"]
CALL = [sys.executable, "-m", "trio_pipe", "call"]


async def read_line(stream: trio.abc.ReceiveStream) -> str:
    data = b""
    with trio.fail_after(60):  # a hang guard: starting Python and Hypercorn
        while not data.endswith(b"\n"):
            chunk = await stream.receive_some(1)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


@pytest.mark.parametrize("protocol", ["protobuf", "raw", "twilio"])
async def test_call_against_serve(protocol: str) -> None:
    server = await trio.lowlevel.open_process(
        [*SERVE, "--port", "0", "--protocol", protocol, "--echo", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = await read_line(server.stdout)
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws")
        argv = [*CALL, url, "--json", "--protocol", protocol, "--tone", "0.4"]
        argv += ["--trailing-silence", "0", "--tail-silence", "0.3", "--turns", "2"]
        done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        turns = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert [t["turn"] for t in turns] == [1, 2]
        for turn in turns:
            assert turn["received_s"] == pytest.approx(0.4, abs=0.03)
            assert turn["ended_by"] == "tail_silence"
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            code = await server.wait()
    assert code == 0, (await server.stderr.receive_some(65536)).decode()


def test_port_in_use_is_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*SERVE, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("trio-pipe serve: cannot listen on")
