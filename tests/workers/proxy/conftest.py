"""Fixtures for the proxy tests: real Hypercorn servers and real clients on 127.0.0.1.

* ``raw_server``: a Starlette app under Hypercorn whose endpoint hands every accepted
  connection (as a MessageSocket) to the test, which plays the server by hand;
* ``proxy_app``: the real thing, a Starlette app under Hypercorn whose endpoint serves each
  connection with a ``WebSocketProxyServer`` on runner ``runner-b`` (the remote worker's
  name comes from the ``remote`` query parameter, so sessions can be told apart);
* ``Inbox``: a bus subscriber that hands every message to the test.

Waits are bounded by ``LIMIT`` (a hang guard, never a timing assertion).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

sys.path.insert(0, str(Path(__file__).parent.parent))  # worker_helpers

from tests.workers.proxy.proxy_helpers import LIMIT, Inbox, serving, wait_for  # noqa: F401
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner
from trio_pipe.workers.proxy import WebSocketProxyServer, accept_proxy_websocket
from trio_pipe.ws.asgi import AsgiSocket, asgi_socket


@attrs.define
class RawConnection:
    sock: AsgiSocket
    headers: dict[str, str]
    done: trio.Event = attrs.Factory(trio.Event)


@attrs.define
class RawServer:
    """Accepted connections arrive in ``connections``; ``handshakes`` counts attempts."""

    url: str
    connections: trio.MemoryReceiveChannel[RawConnection]
    handshakes: int = 0

    async def next_connection(self) -> RawConnection:
        with trio.fail_after(LIMIT):
            return await self.connections.receive()


@pytest.fixture
async def raw_server(nursery: trio.Nursery) -> RawServer:
    send, receive = trio.open_memory_channel[RawConnection](math.inf)
    server: RawServer | None = None

    async def endpoint(websocket: WebSocket) -> None:
        assert server is not None
        server.handshakes += 1
        await websocket.accept()
        async with asgi_socket(websocket, write_timeout=2.0) as sock:
            connection = RawConnection(sock, dict(sock.headers))
            send.send_nowait(connection)
            await connection.done.wait()

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    server = RawServer(served.ws_url("/ws"), receive)
    return server


@attrs.define
class ProxyApp:
    """The proxy server app and its runner; ``proxies`` lists every proxy it made."""

    runner: WorkerRunner
    url: str
    proxies: list[WebSocketProxyServer] = attrs.Factory(list)
    refused: int = 0
    new_proxy: trio.MemorySendChannel[WebSocketProxyServer] | None = None
    _proxies_in: trio.MemoryReceiveChannel[WebSocketProxyServer] | None = None

    def ws_url(self, remote: str = "voice") -> str:
        return f"{self.url}?remote={remote}"

    async def next_proxy(self) -> WebSocketProxyServer:
        assert self._proxies_in is not None
        with trio.fail_after(LIMIT):
            return await self._proxies_in.receive()


MakeProxyApp = Callable[..., Awaitable[ProxyApp]]


@pytest.fixture
def make_proxy_app(nursery: trio.Nursery) -> MakeProxyApp:
    """``app = await make_proxy_app(*workers, **proxy_kwargs)``: runner-b with ``workers``
    behind a proxy endpoint at ``app.ws_url(remote)``; ``authorize`` and
    ``allowed_origins`` guard the handshake; ``on_proxy(proxy)`` runs before it is added."""

    async def make(
        *workers: BaseWorker,
        authorize: Any = None,
        allowed_origins: Any = None,
        on_proxy: Callable[[WebSocketProxyServer], None] | None = None,
        **proxy_kwargs: Any,
    ) -> ProxyApp:
        runner = WorkerRunner(name="runner-b", handle_sigint=False)
        await runner.add_workers(*workers)
        send, receive = trio.open_memory_channel[WebSocketProxyServer](math.inf)
        app: ProxyApp | None = None
        count = 0

        async def endpoint(websocket: WebSocket) -> None:
            nonlocal count
            assert app is not None
            ok = await accept_proxy_websocket(
                websocket, authorize=authorize, allowed_origins=allowed_origins
            )
            if not ok:
                app.refused += 1
                return
            count += 1
            proxy = WebSocketProxyServer(
                f"gateway-{count}",
                websocket=websocket,
                worker_name="worker",
                remote_worker_name=websocket.query_params.get("remote", "voice"),
                **proxy_kwargs,
            )
            if on_proxy is not None:
                on_proxy(proxy)
            app.proxies.append(proxy)
            await runner.add_workers(proxy)
            send.send_nowait(proxy)
            await proxy.wait()

        served = await nursery.start(
            serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)])
        )
        # auto_end=False: a server runs until told, whatever its proxies do.
        await nursery.start(partial(runner.run, auto_end=False))
        app = ProxyApp(runner, served.ws_url("/ws"), new_proxy=send, proxies_in=receive)
        return app

    return make
