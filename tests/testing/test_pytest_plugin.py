"""The pytest plugin: a user's test file, run by a separate pytest against our echo bots."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import trio

from tests.testing.bots import echo_bot
from tests.testing.conftest import Serve
from trio_pipe.audio import parse_wav

USER_TESTS = """
import pytest

async def test_bot_echoes(voice_agent):
    from trio_pipe.testing.voice import tone_chunk
    reply = await voice_agent.call(tone_chunk(0.2))
    assert reply.duration_seconds > 0.15
    assert voice_agent.last_turn_end_reason == "tail_silence"

@pytest.mark.voice_agent(protocol="twilio", response_tail_silence=0.25)
async def test_marker_options(voice_agent, voice_agent_protocol):
    assert voice_agent_protocol == "twilio"
    assert voice_agent.response_tail_silence == 0.25

async def test_options_fixture(voice_agent):
    assert voice_agent.response_tail_silence == 0.3
"""

CONFTEST = """
import pytest

@pytest.fixture
def voice_agent_options(voice_agent_options, voice_agent_protocol):
    # the raw echo bot sends back what it got: 16 kHz
    rates = {"out_rate": 16000} if voice_agent_protocol == "raw" else {}
    return {"response_tail_silence": 0.3, "trailing_silence": 0.0, **rates, **voice_agent_options}
"""


def run_pytest(
    directory: Path, *args: str, env: dict[str, str] | None = None, user_tests: str = USER_TESTS
) -> str:
    """Run pytest on the user's test file in ``directory``; its output."""
    (directory / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    (directory / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (directory / "test_user_bot.py").write_text(textwrap.dedent(user_tests))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.stdout + done.stderr


async def test_fixture_talks_to_the_bot_and_records(serve: Serve, tmp_path: Path) -> None:
    # One server, one bot per connection: protobuf unless the test's marker says twilio.
    url = await serve(echo_bot("protobuf"))
    twilio_url = await serve(echo_bot("twilio"))
    (tmp_path / "t").mkdir()
    user = USER_TESTS.replace('protocol="twilio"', f'protocol="twilio", url="{twilio_url}"')
    records = tmp_path / "rec"
    args = ["--voice-agent-url", url, "--voice-record-dir", str(records)]
    out = await trio.to_thread.run_sync(lambda: run_pytest(tmp_path / "t", *args, user_tests=user))
    assert "3 passed" in out, out
    (turn_dir,) = [d for d in records.iterdir() if "test_bot_echoes" in d.name]
    names = sorted(p.name for p in turn_dir.iterdir())
    assert names == ["turn-01-agent.wav", "turn-01-user.wav"]
    wav = parse_wav((turn_dir / "turn-01-user.wav").read_bytes())
    assert wav is not None and wav.sample_rate == 24000 and len(wav.pcm) == 9600


async def test_url_from_the_environment(serve: Serve, tmp_path: Path) -> None:
    url = await serve(echo_bot("raw"))
    env = {"TRIO_PIPE_VOICE_AGENT_URL": url, "TRIO_PIPE_VOICE_AGENT_PROTOCOL": "raw"}
    out = await trio.to_thread.run_sync(
        lambda: run_pytest(tmp_path, "-k", "echoes", "-o", "voice_agent_url=ws://nowhere", env=env)
    )
    assert "1 passed" in out, out


def test_no_url_skips_with_a_reason(tmp_path: Path) -> None:
    env = {"TRIO_PIPE_VOICE_AGENT_URL": ""}
    out = run_pytest(tmp_path, env=env)
    assert "3 skipped" in out and "--voice-agent-url" in out, out
