"""End to end (check 33): the adapter and ``trio-pipe call`` against trio_pipe's own echo
bot (``trio_pipe.bots``: the FastAPIWebsocketTransport in a pipeline), served by
Hypercorn, once per protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial

import pytest
import trio
import trio.testing

from trio_pipe.bots import echo_app
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice import adapter_for, tone_chunk


@pytest.mark.parametrize("protocol", ["protobuf", "twilio", "raw"])
async def test_turns_against_the_echo_bot(nursery: trio.Nursery, protocol: str, live_tasks) -> None:
    server = await nursery.start(serve_asgi, echo_app(protocol))
    await trio.testing.wait_all_tasks_blocked()
    before = live_tasks()
    adapter = adapter_for(server.ws_url("/ws"), protocol)  # 20 ms frames, in real time
    adapter.response_tail_silence = 0.3
    async with adapter:
        first = await adapter.call(tone_chunk(1.0))
        assert adapter.last_turn_end_reason == "tail_silence"
        # the bot sends 40 ms chunks (a partial one waits for more audio): 0.4 s is whole
        second = await adapter.call(tone_chunk(0.4))
    assert first.duration_seconds == pytest.approx(1.0, abs=0.03)
    assert second.duration_seconds == pytest.approx(0.4, abs=0.03)
    assert adapter.decode_errors == 0
    assert adapter.close_code == 1000 and not adapter.is_connected()
    await trio.testing.wait_all_tasks_blocked()
    assert live_tasks() <= before  # nothing of the adapter, nor of the bot's session, is left


@pytest.mark.parametrize("protocol", ["protobuf", "twilio", "raw"])
async def test_trio_pipe_call_against_the_echo_bot(nursery: trio.Nursery, protocol: str) -> None:
    server = await nursery.start(serve_asgi, echo_app(protocol))
    argv = [sys.executable, "-m", "trio_pipe", "call", server.ws_url("/ws"), "--json"]
    argv += ["--protocol", protocol, "--tone", "0.4", "--trailing-silence", "0"]
    argv += ["--tail-silence", "0.3"]
    done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    (turn,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert turn["received_s"] == pytest.approx(0.4, abs=0.03)
    assert turn["ended_by"] == "tail_silence"


async def test_trio_pipe_call_against_trio_pipe_serve(nursery: trio.Nursery) -> None:
    serve = [sys.executable, "-m", "trio_pipe", "serve", "--port", "0", "--protocol", "twilio"]
    serve += ["--echo", "plain"]
    process: trio.Process = await nursery.start(
        partial(trio.run_process, serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    )
    assert process.stdout is not None
    first_line = b""
    with trio.fail_after(30):  # a hang guard, not a timing check
        while b"\n" not in first_line:
            first_line += await process.stdout.receive_some()
    url = first_line.split(b"\n")[0].decode().strip()
    argv = [sys.executable, "-m", "trio_pipe", "call", url, "--protocol", "twilio", "--json"]
    argv += ["--tone", "0.4", "--trailing-silence", "0", "--tail-silence", "0.3"]
    done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    process.terminate()
    assert done.returncode == 0, done.stderr.decode()
    (turn,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert turn["received_s"] == pytest.approx(0.4, abs=0.03)
