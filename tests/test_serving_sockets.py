"""Dead peers: a session whose client process froze ends within the configured time.

The client is a real process on loopback (tests/frozen_ws_client.py) stopped with
SIGSTOP: its kernel still acknowledges what arrived, but nothing reads any more, so the
server's sends stall on a closed TCP window. ``TCP_USER_TIMEOUT`` (set on the listening
socket by serve_asgi, inherited by the accepted one) drops that connection.
"""

from __future__ import annotations

import socket
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.client_process import freeze, ready_process
from trio_pipe.serving import ServedApp, serve_asgi, url_host
from trio_pipe.serving_sockets import TCPKeepalive, listening_socket

CLIENT = Path(__file__).parent / "frozen_ws_client.py"
CHUNK = b"\x00" * 16384  # the bot "speaking": as much as the socket takes


class StreamingApp:
    """An ASGI WebSocket app that streams to each client (unless ``quiet``) and notes when
    the session ended."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.ended: list[float] = []
        self.accepted = trio.Event()
        self.ended_event = trio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("WebSocket only")  # Hypercorn: no lifespan support
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.accepted.set()
        try:
            async with trio.open_nursery() as nursery:
                if not self.quiet:
                    nursery.start_soon(self._stream, send)
                while (await receive())["type"] != "websocket.disconnect":
                    pass
                nursery.cancel_scope.cancel()
        finally:
            self.ended.append(trio.current_time())
            self.ended_event.set()

    async def _stream(self, send) -> None:
        while True:
            await send({"type": "websocket.send", "bytes": CHUNK, "text": None})
            # Hypercorn's send returns at once after the connection closed: let the
            # disconnect through.
            await trio.lowlevel.checkpoint()


def test_within_spreads_the_time_over_keepalive_and_user_timeout() -> None:
    options = TCPKeepalive.within(6.0)
    assert (options.idle_secs, options.interval_secs, options.count) == (3.0, 1.0, 3)
    assert options.user_timeout_secs == 6.0 and options.detection_secs == 6.0
    assert (
        TCPKeepalive(idle_secs=30, interval_secs=10, count=3, user_timeout_secs=None).detection_secs
        == 60
    )
    with pytest.raises(ValueError):
        TCPKeepalive.within(0)


def test_listening_socket_carries_the_options() -> None:
    options = TCPKeepalive(idle_secs=2, interval_secs=1, count=4, user_timeout_secs=1.5)
    with listening_socket("127.0.0.1", 0, keepalive=options, reuse_port=True) as sock:
        opt = sock.getsockopt
        assert opt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert opt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 2
        assert opt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
        assert opt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
        assert opt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 1500
        assert opt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1


def test_urls_put_ipv6_hosts_in_brackets() -> None:
    served = ServedApp(host="::1", port=8765, binds=())
    assert served.ws_url("/ws") == "ws://[::1]:8765/ws"
    assert served.http_url() == "http://[::1]:8765/"
    assert url_host("127.0.0.1") == "127.0.0.1" and url_host("[::1]") == "[::1]"


async def _frozen_client_session(app: StreamingApp, served: ServedApp, wait: float) -> float | None:
    """Connect a client process, freeze it, and return how long the session lived on
    (None: still open after ``wait`` seconds)."""
    argv = [sys.executable, str(CLIENT), "127.0.0.1", str(served.port)]
    async with ready_process(argv) as proc:
        freeze(proc)
        frozen_at = trio.current_time()
        with trio.move_on_after(wait):
            await app.ended_event.wait()
        return app.ended[0] - frozen_at if app.ended else None


async def test_a_frozen_client_process_is_dropped_within_the_user_timeout() -> None:
    app = StreamingApp()
    keepalive = TCPKeepalive(idle_secs=1, interval_secs=1, count=1, user_timeout_secs=1.0)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            served = await nursery.start(partial(serve_asgi, app, tcp_keepalive=keepalive))
            lived = await _frozen_client_session(app, served, wait=8)
            nursery.cancel_scope.cancel()
    assert lived is not None, "the session outlived its frozen client"
    # the window closes within a moment of the freeze, then 1 s of zero-window probing
    assert lived < 4.0


async def test_without_the_options_a_frozen_client_holds_its_session() -> None:
    app = StreamingApp()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            served = await nursery.start(serve_asgi, app)
            lived = await _frozen_client_session(app, served, wait=3)
            nursery.cancel_scope.cancel()
    assert lived is None


async def test_accepted_connections_are_probed_with_keepalive() -> None:
    app = StreamingApp(quiet=True)  # nothing in flight: the keepalive timer runs
    keepalive = TCPKeepalive(idle_secs=5, interval_secs=1, count=2, user_timeout_secs=None)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            served = await nursery.start(partial(serve_asgi, app, tcp_keepalive=keepalive))
            with socket.create_connection(("127.0.0.1", served.port)) as client:
                client.sendall(
                    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                )
                await app.accepted.wait()
                local = client.getsockname()[1]
                # the server's side of this connection: sport = served port, dport = ours
                out = await trio.run_process(
                    [
                        "ss",
                        "-tnoH",
                        "state",
                        "established",
                        f"( sport = :{served.port} and dport = :{local} )",
                    ],
                    capture_stdout=True,
                )
            nursery.cancel_scope.cancel()
    text = out.stdout.decode()
    assert str(local) in text and "timer:(keepalive" in text, text
