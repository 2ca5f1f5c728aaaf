"""docs/testing-voice-bots.md: the self-served fixture and the no-pytest snippet work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "testing-voice-bots.md").read_text()
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def snippet(after_heading: str) -> str:
    section = PAGE.split(after_heading, 1)[1]
    return FENCE.search(section).group(1)


async def test_the_no_pytest_snippet_works_against_trio_pipe_serve(tmp_path: Path) -> None:
    server = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_pipe", "serve", "--port", "0"], stdout=subprocess.PIPE
    )
    try:
        line = b""
        with trio.fail_after(60):
            while not line.endswith(b"\n"):
                line += await server.stdout.receive_some(1)
        url = line.decode().strip()
        code = snippet("## Without pytest").replace("ws://127.0.0.1:8765/ws", url)
        script = tmp_path / "snippet.py"
        script.write_text(code)
        with trio.fail_after(60):
            done = await trio.run_process(
                [sys.executable, str(script)], capture_stdout=True, capture_stderr=True, check=False
            )
    finally:
        server.terminate()
        with trio.fail_after(30):
            await server.wait()
    assert done.returncode == 0, done.stderr.decode()
    reason, latency, duration = done.stdout.decode().split()
    assert reason == "tail_silence" and float(latency) > 0 and float(duration) > 0.5


def test_the_self_served_fixture_runs(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["trio_pipe.testing.pytest_plugin"]\n'
        + snippet("### Serving the bot from the test itself")
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (tmp_path / "test_bot.py").write_text(
        "import pytest\n\nfrom trio_pipe.testing.voice import utterance_chunk\n\n\n"
        "@pytest.mark.voice_agent(trailing_silence=0.5)\n"
        "async def test_bot_answers(voice_agent):\n"
        "    reply = await voice_agent.call(utterance_chunk(1.0))\n"
        "    assert reply.duration_seconds > 0.5\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
