"""serve_processes: one app on several processes and one port, both ways of sharing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from trio_websocket import open_websocket_url

HERE = Path(__file__).parent
HOST = """
import sys
from trio_only_app import make_app
from trio_pipe.multiprocess import serve_processes

def ready(served, pids):
    print(served.ws_url("/ws"), *pids, flush=True)

sys.exit(serve_processes(make_app, workers=2, mode=sys.argv[1], on_ready=ready))
"""


@pytest.mark.parametrize("mode", ["reuseport", "shared"])
async def test_two_processes_serve_one_port_and_stop_together(mode: str) -> None:
    parent = await trio.lowlevel.open_process(
        [sys.executable, "-c", HOST, mode], cwd=HERE, stdout=subprocess.PIPE
    )
    try:
        line = b""
        with trio.fail_after(60):
            while not line.endswith(b"\n"):
                line += await parent.stdout.receive_some(1)
        url, *pids = line.decode().split()
        assert len(set(pids)) == 2
        with trio.fail_after(30):
            for _ in range(4):
                async with open_websocket_url(url) as ws:
                    await ws.send_message(b"\x00\x01" * 960)  # 40 ms at 24 kHz
                    assert len(await ws.get_message()) == 1920
    finally:
        parent.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            code = await parent.wait()
    assert code == 0
    for pid in pids:  # every serving process is gone with the parent
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


async def test_a_parent_killed_outright_takes_its_processes_along() -> None:
    parent = await trio.lowlevel.open_process(
        [sys.executable, "-c", HOST, "reuseport"], cwd=HERE, stdout=subprocess.PIPE
    )
    line = b""
    with trio.fail_after(60):
        while not line.endswith(b"\n"):
            line += await parent.stdout.receive_some(1)
    pids = [int(p) for p in line.decode().split()[1:]]
    parent.kill()
    await parent.wait()
    with trio.fail_after(30):
        for pid in pids:
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                await trio.sleep(0.05)
