"""A ready proxy endpoint: ``proxy_route(runner, "/proxy", worker_name=...)``.

Serving a worker behind the WebSocket proxy takes the same steps in every app: check the
handshake, make a uniquely named ``WebSocketProxyServer`` for the connection, add it to the
runner, keep the endpoint alive until it finishes. :func:`proxy_route` is those steps as a
Starlette route::

    app = Starlette(routes=[
        proxy_route(runner, "/proxy", worker_name="researcher",
                    authorize=lambda headers: headers.get("authorization") == f"Bearer {TOKEN}"),
    ])

Each connection gets its own proxy (``"<name_prefix>-<n>"``), which finishes, and is
forgotten by the runner, when the client leaves, or stops answering the server's pings
(every 20 s, 20 s to answer by default). What the client may send across is the
connection's :class:`~trio_pipe.workers.proxy.policy.ProxyPolicy`: one for all
connections, or a callable that picks one per connection (for example a wider one for a
token that the application trusts to end the session).
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bus.messages import BusMessage
from trio_pipe.serializers import MessageSerializer
from trio_pipe.workers.proxy.handshake import Authorize, accept_proxy_websocket
from trio_pipe.workers.proxy.policy import ProxyPolicy
from trio_pipe.workers.proxy.websocket import WebSocketProxyServer
from trio_pipe.workers.runner import WorkerRunner

__all__ = ["PolicyChoice", "proxy_route", "query_worker_name"]

logger = logging.getLogger(__name__)

INTERNAL_ERROR = 1011

PolicyChoice = Callable[[WebSocket], ProxyPolicy | Awaitable[ProxyPolicy | None] | None]
"""Picks a connection's policy from its (accepted) WebSocket: headers, query, client
(None: the default policy)."""


def query_worker_name(
    parameter: str = "worker", default: str = "client"
) -> Callable[[WebSocket], str]:
    """The remote worker's name from a query parameter (``?worker=asker``)."""

    def name(websocket: WebSocket) -> str:
        return websocket.query_params.get(parameter) or default

    return name


def proxy_route(
    runner: WorkerRunner,
    path: str,
    *,
    worker_name: str,
    remote_worker_name: str | Callable[[WebSocket], str] | None = None,
    authorize: Authorize | None = None,
    allowed_origins: Collection[str] | None = None,
    policy: ProxyPolicy | PolicyChoice | None = None,
    forward_messages: tuple[type[BusMessage], ...] = (),
    serializer: MessageSerializer | None = None,
    write_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    name_prefix: str = "proxy",
    on_proxy: Callable[[WebSocketProxyServer], object] | None = None,
) -> WebSocketRoute:
    """A Starlette WebSocket route that serves each connection with its own proxy.

    Args:
        runner: the runner of ``worker_name`` (running, or about to run).
        path: the route's path.
        worker_name: the local worker behind the proxies.
        remote_worker_name: the client's worker: a name, or a callable of the WebSocket;
            default: the ``worker`` query parameter, else ``"client"``.
        authorize: checks the handshake headers (lower-case names); a refusal answers
            HTTP 401 (see ``workers.proxy.handshake``).
        allowed_origins: browser origins allowed (a refusal answers HTTP 403).
        policy: what a client may send across: one policy, or a callable of the accepted
            WebSocket returning (or awaiting to) one; default :class:`ProxyPolicy`.
        forward_messages, serializer, write_timeout: passed to each
            :class:`~trio_pipe.workers.proxy.websocket.WebSocketProxyServer`.
        ping_interval, ping_timeout: each client is pinged every ``ping_interval``
            seconds and dropped (its proxy finishes) when nothing came from it within
            ``ping_timeout`` of a ping: a client whose process froze while its link was
            quiet. uvicorn's defaults (20 s, 20 s); None: no pings.
        name_prefix: proxies are named ``"<name_prefix>-<n>"``.
        on_proxy: called with each new proxy before it is added (to attach event
            handlers, keep a list, ...).
    """
    numbers = itertools.count(1)
    remote = remote_worker_name if remote_worker_name is not None else query_worker_name()

    async def choose_policy(websocket: WebSocket) -> ProxyPolicy | None:
        if policy is None or isinstance(policy, ProxyPolicy):
            return policy
        chosen = policy(websocket)
        if inspect.isawaitable(chosen):
            chosen = await chosen
        return chosen

    async def endpoint(websocket: WebSocket) -> None:
        if not await accept_proxy_websocket(
            websocket, authorize=authorize, allowed_origins=allowed_origins
        ):
            return  # refused with 401/403: no WebSocket
        proxy = WebSocketProxyServer(
            f"{name_prefix}-{next(numbers)}",
            websocket=websocket,
            worker_name=worker_name,
            remote_worker_name=remote if isinstance(remote, str) else remote(websocket),
            forward_messages=forward_messages,
            policy=await choose_policy(websocket),
            serializer=serializer,
            write_timeout=write_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        if on_proxy is not None:
            on_proxy(proxy)
        await runner.add_workers(proxy)
        if runner.get_worker(proxy.name) is not proxy:  # a name clash: the runner refused
            logger.error("proxy route %s: worker name %r is taken", path, proxy.name)
            await websocket.close(INTERNAL_ERROR)
            return
        await proxy.wait()  # until the client leaves, or the runner stops

    return WebSocketRoute(path, endpoint)
