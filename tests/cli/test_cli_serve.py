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
RAW_ECHO = ["--port", "0", "--protocol", "raw", "--echo", "plain", "--in-rate", "24000"]
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


async def test_serve_takes_turns_by_default_and_serves_the_page() -> None:
    server = await trio.lowlevel.open_process(
        [*SERVE, "--port", "0", "--web"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        url = await read_line(server.stdout)
        port = int(url.split(":")[2].split("/")[0])
        argv = [*CALL, url, "--json", "--utterance", "1.0", "--trailing-silence", "0.5"]
        done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        (turn,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
        # it waited for the end of the turn (VAD stop_secs) before answering
        assert turn["latency_ms"] > 100
        assert turn["received_s"] >= 1.0
        with trio.fail_after(30):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                page = b""
                while chunk := await stream.receive_some(65536):
                    page += chunk
        assert page.startswith(b"HTTP/1.1 200") and b"@pipecat-ai/client-js" in page
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            code = await server.wait()
    assert code == 0


def refusal(*args: str) -> str:
    """The one-line error of ``trio-pipe serve`` refusing ``args`` (exit code 2)."""
    done = subprocess.run(
        [*SERVE, "--port", "0", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_web_needs_turns_and_protobuf() -> None:
    assert "--web needs" in refusal("--web", "--echo", "plain")


async def _one_echo(url: str) -> None:
    from trio_websocket import open_websocket_url

    async with open_websocket_url(url) as ws:
        await ws.send_message(b"\x00\x01" * 960)  # 40 ms at 24 kHz: one output chunk back
        await ws.get_message()


async def test_workers_share_one_port_and_log_sessions() -> None:
    server = await trio.lowlevel.open_process(
        [*SERVE, *RAW_ECHO, "--workers", "2", "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = b""
    try:
        url = await read_line(server.stdout)
        assert url.startswith("ws://127.0.0.1:")
        with trio.fail_after(60):
            for _ in range(16):  # the kernel spreads connections by their source port
                await _one_echo(url)
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            code = await server.wait()
            while chunk := await server.stderr.receive_some(65536):
                log += chunk
    text = log.decode()
    assert code == 0, text
    started = [line for line in text.splitlines() if "session started:" in line]
    ended = [line for line in text.splitlines() if "session ended:" in line]
    assert len(started) == 16 and len(ended) == 16, text
    assert all("client closed" in line for line in ended)
    pids = {line.split("[", 1)[1].split("]", 1)[0] for line in started}
    assert len(pids) == 2, f"one process served every session: {pids}"
    assert sum("Running on http://" in line for line in text.splitlines()) == 2  # once each
    assert "2 processes" in text


async def test_metrics_port_serves_prometheus_figures() -> None:
    server = await trio.lowlevel.open_process(
        [*SERVE, *RAW_ECHO, "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = await read_line(server.stdout)
        await read_line(server.stderr)  # the bot line
        metrics_line = await read_line(server.stderr)
        assert metrics_line.startswith("metrics: http://127.0.0.1:"), metrics_line
        port = int(metrics_line.rsplit(":", 1)[1].split("/")[0])
        with trio.fail_after(60):
            await _one_echo(url)
            await trio.sleep(0.2)  # the server notices the close
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(b"GET /metrics HTTP/1.0\r\n\r\n")
                body = b""
                while chunk := await stream.receive_some(65536):
                    body += chunk
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await server.wait()
    text = body.decode()
    assert "trio_pipe_sessions_opened_total 1.0" in text, text[:500]
    assert 'trio_pipe_sessions_ended_total{reason="client closed"} 1.0' in text


def test_help_keeps_its_examples() -> None:
    done = subprocess.run([*SERVE, "--help"], capture_output=True, text=True, check=True)
    assert "    trio-pipe serve --workers 2                  # two serving processes" in done.stdout


def test_help_has_no_rest_markup() -> None:
    for command in ("serve", "bench", "call"):
        argv = [sys.executable, "-m", "trio_pipe", command, "--help"]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert "``" not in done.stdout and ":class:`" not in done.stdout, command


@pytest.mark.deadline(60)
async def test_ping_interval_ends_the_session_of_a_frozen_client() -> None:
    from tests.ws.idle_process import freeze, idle_client

    pings = ["--ping-interval", "0.3", "--ping-timeout", "1", "--dead-peer-timeout", "0"]
    server = await trio.lowlevel.open_process(
        [*SERVE, *RAW_ECHO, "--log-level", "INFO", *pings],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = b""
    try:
        url = await read_line(server.stdout)
        async with idle_client("socket", url) as client:
            freeze(client)
            with trio.fail_after(20):  # a ping, a second without a pong, the session's end
                while b"session ended:" not in log:
                    log += await server.stderr.receive_some(65536)
    finally:
        server.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await server.wait()
    ended = [line for line in log.decode().splitlines() if "session ended:" in line]
    # Hypercorn reports every end of a connection the client did not see closed by the
    # app as a disconnect with code 1006, so the log cannot tell "no pong" apart; the
    # end within a ping and its timeout of freezing is what tells the pings apart.
    assert len(ended) == 1 and "client closed" in ended[0], log.decode()
    seconds = float(ended[0].rsplit(", ", 1)[1].split(" s)")[0])
    assert seconds < 10, ended


def test_ping_options_are_checked() -> None:
    assert "--ping-timeout must be positive" in refusal("--ping-timeout", "0")
    assert "--ping-interval must be >= 0" in refusal("--ping-interval", "-1")
