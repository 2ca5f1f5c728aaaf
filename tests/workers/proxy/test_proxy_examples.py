"""examples/proxy_server.py and examples/proxy_client.py, as two processes on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 60  # a hang guard for two interpreters starting up, not a timing assertion


def test_the_client_example_gets_its_answers_from_the_server_example():
    env = dict(os.environ, PROXY_TOKEN="t0ken", PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "proxy_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("research host on ws://127.0.0.1:"), line
        client = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "proxy_client.py"), line.split()[-1]],
            capture_output=True,
            text=True,
            env=env,
            timeout=LIMIT,
            check=False,
        )
        assert client.returncode == 0, client.stderr[-2000:]
        assert "structured concurrency: 3 papers on structured concurrency" in client.stdout
        assert client.stdout.count("update {'progress'") == 4
    finally:
        server.terminate()  # SIGTERM: the runner handles it and the server stops cleanly
        try:
            code = server.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0, server.stderr.read()[-2000:]
