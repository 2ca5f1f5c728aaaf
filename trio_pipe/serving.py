"""Serve an ASGI app with Hypercorn inside the caller's nursery.

    server = await nursery.start(serve_asgi, app)        # 127.0.0.1, a free port
    url = server.ws_url("/ws")                            # ws://127.0.0.1:40471/ws

Resource handling
    Hypercorn's Trio worker runs as a child of the caller's nursery; cancelling that
    nursery (or the scope around ``serve_asgi``) stops the server and closes its sockets.
    For a graceful stop, pass ``shutdown_trigger``: an async callable that returns when
    the server should stop accepting and drain. The listening socket is made here
    (:func:`trio_pipe.serving_sockets.listening_socket`) and handed to Hypercorn as an
    ``fd://`` bind, so its options reach every accepted connection: ``tcp_keepalive``
    (dead-peer detection) and ``reuse_port`` (several processes on one port).

Error handling
    A bind failure (port in use, bad host) raises its ``OSError`` (not wrapped in an
    exception group) from ``nursery.start`` before anything is served, so the caller
    never holds an address nobody listens on.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import hypercorn.config
import hypercorn.trio
import sniffio
import trio

from trio_pipe.serving_sockets import TCPKeepalive, listening_socket
from trio_pipe.ws.hypercorn_adapter import hypercorn_connections

if TYPE_CHECKING:
    from trio_pipe.metrics import Metrics

__all__ = ["TRIO_ONLY", "ServedApp", "TCPKeepalive", "require_trio", "serve_asgi", "url_host"]

#: Why an app built on trio_pipe refuses to start on another event loop.
TRIO_ONLY = (
    "this app runs on Trio: start it with `hypercorn --worker-class trio ...` "
    "(or trio_pipe.serving.serve_asgi / trio-pipe serve), not asyncio or uvicorn"
)


def require_trio(app: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``app``, refusing to start on anything but Trio with one line (:data:`TRIO_ONLY`).

    Under Hypercorn's asyncio worker or uvicorn the server's startup fails at once: at
    the lifespan startup, before anything is served, the process prints the line and
    exits with status 1, instead of the first session failing deep inside Trio.
    """

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if sniffio.current_async_library() == "trio":
            await app(scope, receive, send)
            return
        if scope["type"] != "lifespan":
            raise RuntimeError(TRIO_ONLY)
        # Past the server's error handling (it would print tracebacks around the line):
        # nothing is served yet, so the process prints just the line and exits.
        print(f"error: {TRIO_ONLY}", file=sys.stderr, flush=True)
        os._exit(1)

    return guarded


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 address in brackets."""
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


@attrs.frozen
class ServedApp:
    """Where a served app listens."""

    host: str
    port: int
    binds: tuple[str, ...]
    metrics_port: int | None = None
    """Where ``/metrics`` is served (``metrics_port`` was given), else None."""

    def http_url(self, path: str = "/") -> str:
        """``http://host:port/path`` (an IPv6 host in brackets)."""
        return f"http://{url_host(self.host)}:{self.port}{path}"

    def ws_url(self, path: str = "/") -> str:
        """``ws://host:port/path`` (an IPv6 host in brackets)."""
        return f"ws://{url_host(self.host)}:{self.port}{path}"


async def serve_asgi(
    app: Callable[..., Awaitable[Any]],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    config: hypercorn.config.Config | None = None,
    tcp_keepalive: TCPKeepalive | None = None,
    reuse_port: bool = False,
    metrics: Metrics | None = None,
    metrics_port: int | None = None,
    sock: socket.socket | None = None,
    task_status: trio.TaskStatus[ServedApp] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` (port 0: a free one) until cancelled.

    ``task_status.started`` receives a :class:`ServedApp` with the bound port. Pass a
    Hypercorn ``config`` to tune it; its ``bind`` is replaced by ``host:port``.
    ``tcp_keepalive``: drop connections whose peer stopped answering (see
    :class:`TCPKeepalive`); ``reuse_port``: let other processes bind the same port.
    ``metrics``: count ``app``'s sessions there (:class:`trio_pipe.metrics.Metrics`);
    ``metrics_port``: also serve ``/metrics`` on that port of ``host`` (0: a free one;
    a new ``Metrics`` unless given). ``sock``: serve on this listening socket (shared
    by several processes) instead of binding ``host:port``; it stays open.
    """
    if metrics_port is not None and metrics is None:
        from trio_pipe.metrics import Metrics

        metrics = Metrics()
    if metrics is not None:
        app = metrics.asgi(app)
    # Outermost, so it sees Hypercorn's own ``send``: bounded WebSocket writes (ws.asgi).
    app = hypercorn_connections(app)
    if config is None:
        config = hypercorn.config.Config()
        # Through the logging setup of the application (its levels and handlers): with
        # its own stderr handler as well, Hypercorn's lines would show twice.
        config.errorlog = logging.getLogger("hypercorn.error")
    owned = sock is None
    if sock is None:
        sock = listening_socket(
            host, port, keepalive=tcp_keepalive, reuse_port=reuse_port, backlog=config.backlog
        )
    # Hypercorn wraps (and closes) its own descriptor; ours is closed when serving ends.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    started = False
    try:
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(
                partial(hypercorn.trio.serve, app, config, shutdown_trigger=shutdown_trigger)
            )
            bound_port = sock.getsockname()[1]
            scrape_port = None
            if metrics is not None and metrics_port is not None:
                scrape = await nursery.start(
                    partial(serve_asgi, metrics.endpoint(), host, metrics_port)
                )
                scrape_port = scrape.port
            started = True
            task_status.started(
                ServedApp(host=host, port=bound_port, binds=tuple(binds), metrics_port=scrape_port)
            )
    except BaseExceptionGroup as group:
        bind_error = _only_os_error(group)
        if not started and bind_error is not None:
            raise bind_error from None
        raise
    finally:
        if owned:
            sock.close()


def _only_os_error(group: BaseExceptionGroup) -> OSError | None:
    """The OSError if ``group`` (nested or not) holds exactly one exception, an OSError."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    if len(leaves) == 1 and isinstance(leaves[0], OSError):
        return leaves[0]
    return None
