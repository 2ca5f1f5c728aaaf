"""examples/proxy_server.py and examples/proxy_client.py, as two processes on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import trio

from trio_pipe.bus.messages import BusCancelMessage, BusEndMessage, BusEndWorkerMessage
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.ws.client import open_client_socket

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 60  # a hang guard for two interpreters starting up, not a timing assertion


ENV = dict(os.environ, PROXY_TOKEN="t0ken", PYTHONUNBUFFERED="1")


def run_client(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "proxy_client.py"), url],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=LIMIT,
        check=False,
    )


@contextmanager
def server_example():
    """The server example running; yields (process, its proxy URL)."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "proxy_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("research host on ws://127.0.0.1:"), line
        yield server, line.split()[-1]
    finally:
        server.terminate()  # SIGTERM: the runner handles it and the server stops cleanly
        try:
            code = server.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, server.stderr.read()[-2000:]


def test_the_client_example_gets_its_answers_from_the_server_example():
    with server_example() as (_server, url):
        client = run_client(url)
        assert client.returncode == 0, client.stderr[-2000:]
        assert "structured concurrency: 3 papers on structured concurrency" in client.stdout
        assert client.stdout.count("update {'progress'") == 4


def test_a_client_with_the_token_cannot_end_the_server_example():
    """issue 18: one cancel or end message aimed at the served worker ended the host."""

    async def attack(url: str) -> None:
        json = JSONMessageSerializer()
        headers = {"Authorization": "Bearer t0ken"}
        with trio.fail_after(LIMIT):
            async with open_client_socket(f"{url}?worker=mallory", headers=headers) as sock:
                await sock.receive()  # the registry message: researcher is ready
                for cls in (BusCancelMessage, BusEndMessage, BusEndWorkerMessage):
                    await sock.send(json.serialize(cls(source="mallory", target="researcher")))
                await trio.sleep(1.5)  # the old host was gone within this

    with server_example() as (server, url):
        trio.run(attack, url)
        assert server.poll() is None  # still up
        client = run_client(url)  # and still serving, researcher included
        assert client.returncode == 0, client.stderr[-2000:]
