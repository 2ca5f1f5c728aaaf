"""pytest fixtures for testing a voice bot: ``async def test_bot(voice_agent): ...``.

Installed with trio_pipe (a ``pytest11`` entry point), so the fixtures are there in any
project that has trio_pipe and pytest-trio. Without the entry point (a source checkout
that is not installed), add ``pytest_plugins = ["trio_pipe.testing.pytest_plugin"]`` to
the top-level ``conftest.py`` or run ``pytest -p trio_pipe.testing.pytest_plugin``.

Configuration, first found wins: a ``@pytest.mark.voice_agent(url=..., protocol=...)``
marker on the test; the command line (``--voice-agent-url``, ``--voice-agent-protocol``,
``--voice-record-dir``); the environment (``TRIO_PIPE_VOICE_AGENT_URL``,
``TRIO_PIPE_VOICE_AGENT_PROTOCOL``, ``TRIO_PIPE_VOICE_RECORD_DIR``); the ini file
(``voice_agent_url``, ``voice_agent_protocol``, ``voice_record_dir``). Without a URL the
test is skipped, saying how to give one.

Fixtures
    ``voice_agent``: a connected adapter (``WebSocketAgentAdapter``), disconnected after
    the test. ``voice_agent_url`` / ``voice_agent_protocol``: the configured values.
    ``voice_agent_options``: keyword options for the adapter (``response_timeout``,
    ``frame_ms``, ``realtime``, ...); override this fixture to change them.

Recordings
    With a record directory, each test's turns are written after the test (also when it
    failed) as ``<dir>/<test id>/turn-01-user.wav``, ``turn-01-agent.wav``, ...

Needs pytest-trio: mark tests ``@pytest.mark.trio`` or set ``trio_mode = true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from trio_pipe.testing.voice import WebSocketAgentAdapter

_SETTINGS = {
    # name: (command-line option, environment variable, ini key, default)
    "url": ("--voice-agent-url", "TRIO_PIPE_VOICE_AGENT_URL", "voice_agent_url", None),
    "protocol": (
        "--voice-agent-protocol",
        "TRIO_PIPE_VOICE_AGENT_PROTOCOL",
        "voice_agent_protocol",
        "protobuf",
    ),
    "record_dir": ("--voice-record-dir", "TRIO_PIPE_VOICE_RECORD_DIR", "voice_record_dir", None),
}
_HELP = {
    "url": "WebSocket URL of the voice bot under test (ws://host:port/path)",
    "protocol": "wire protocol of the bot: protobuf (Pipecat frames), twilio or raw",
    "record_dir": "write each test's turns as WAV files under this directory",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The voice-agent options and ini keys."""
    group = parser.getgroup("voice-agent", "voice bot testing (trio_pipe)")
    for name, (option, env, ini, _default) in _SETTINGS.items():
        group.addoption(option, default=None, help=f"{_HELP[name]} (env {env}, ini {ini})")
        parser.addini(ini, _HELP[name], default=None)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker."""
    config.addinivalue_line(
        "markers",
        "voice_agent(url=None, protocol=None, **options): which voice bot this test talks "
        "to and adapter options for it",
    )


def _setting(config: pytest.Config, name: str) -> str | None:
    option, env, ini, default = _SETTINGS[name]
    value = config.getoption(option) or os.environ.get(env) or config.getini(ini)
    return value or default


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("voice_agent")
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def voice_agent_url(request: pytest.FixtureRequest) -> str:
    """The bot's URL; skips the test when none is configured."""
    url = _marker_kwargs(request).get("url") or _setting(request.config, "url")
    if not url:
        pytest.skip(
            "no voice bot to test: pass --voice-agent-url ws://..., set "
            "TRIO_PIPE_VOICE_AGENT_URL, or set voice_agent_url in the ini file"
        )
    return str(url)


@pytest.fixture
def voice_agent_protocol(request: pytest.FixtureRequest) -> str:
    """The bot's wire protocol name (``protobuf`` unless configured)."""
    return str(_marker_kwargs(request).get("protocol") or _setting(request.config, "protocol"))


@pytest.fixture
def voice_agent_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword options for the adapter: the marker's extra keywords (override to change)."""
    kwargs = _marker_kwargs(request)
    kwargs.pop("url", None)
    kwargs.pop("protocol", None)
    return kwargs


_TUNABLES = ("response_timeout", "response_tail_silence", "response_max_duration")


@pytest.fixture
async def voice_agent(
    request: pytest.FixtureRequest,
    voice_agent_url: str,
    voice_agent_protocol: str,
    voice_agent_options: dict[str, Any],
) -> AsyncIterator[WebSocketAgentAdapter]:
    """A connected adapter to the configured bot, closed after the test."""
    import trio

    from trio_pipe.testing.voice import adapter_for
    from trio_pipe.testing.voice.recording import TurnRecorder

    options = dict(voice_agent_options)
    tunables = {name: options.pop(name) for name in _TUNABLES if name in options}
    adapter = adapter_for(voice_agent_url, voice_agent_protocol, **options)
    for name, value in tunables.items():
        setattr(adapter, name, value)
    recorder = TurnRecorder()
    adapter.add_turn_listener(recorder)
    try:
        async with adapter:
            yield adapter
    finally:
        record_dir = _setting(request.config, "record_dir")
        if record_dir and recorder.turns:
            target = Path(record_dir) / _safe_name(request.node.nodeid)
            await trio.to_thread.run_sync(recorder.write, target)


def _safe_name(nodeid: str) -> str:
    """A test id as one directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
