"""A worker served behind the WebSocket proxy with Hypercorn: the remote host.

    PROXY_TOKEN=s3cret python examples/proxy_server.py --port 8765
    PROXY_TOKEN=s3cret python examples/proxy_client.py ws://127.0.0.1:8765/proxy

A ``WorkerRunner`` named ``research-host`` runs the ``researcher`` worker (its ``search``
job streams two progress updates, then answers). Each WebSocket connection to ``/proxy``
that brings the right bearer token gets its own ``WebSocketProxyServer`` (``proxy_route``),
which forwards between ``researcher`` and the client's worker (named by the ``worker``
query parameter) and finishes when the client leaves. What a client may send across is
the job protocol: it cannot end the host or stop ``researcher`` (docs/security.md).
Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from functools import partial

import trio
from starlette.applications import Starlette

from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyServer, proxy_route, query_worker_name

logger = logging.getLogger("proxy_server")


class Researcher(BaseWorker):
    """Answers ``search`` jobs, with progress updates on the way."""

    @job(name="search")
    async def search(self, message) -> None:
        query = (message.payload or {}).get("q", "")
        for progress in (0.5, 1.0):
            await trio.sleep(0.05)  # stands for real work
            await self.send_job_update(message.job_id, {"progress": progress})
        await self.send_job_response(message.job_id, {"found": f"3 papers on {query}"})


def proxy_app(runner: WorkerRunner, token: str) -> Starlette:
    """``/proxy``: check the token, then serve the connection with its own proxy.

    A client may run ``researcher``'s jobs and nothing else: it cannot end the host or
    stop ``researcher`` (the default ``ProxyPolicy``, see docs/security.md).
    """

    def authorize(headers) -> bool:
        return secrets.compare_digest(headers.get("authorization", ""), f"Bearer {token}")

    def watch(gateway: WebSocketProxyServer) -> None:
        @gateway.event_handler("on_client_disconnected")
        async def left(proxy, _websocket) -> None:
            logger.info("%s: client left (%d messages in)", proxy.name, proxy.stats.delivered)

    route = proxy_route(
        runner,
        "/proxy",
        worker_name="researcher",
        remote_worker_name=query_worker_name("worker", default="asker"),
        authorize=authorize,  # a wrong token gets HTTP 401, and no WebSocket
        name_prefix="gateway",  # gateway-1, gateway-2, ...: one per connection
        on_proxy=watch,
    )
    return Starlette(routes=[route])


async def main(host: str, port: int, token: str) -> None:
    # SIGTERM (a process manager's stop) ends the session gracefully and exits 0;
    # Ctrl-C is the program's own (KeyboardInterrupt, exit status 130 below).
    runner = WorkerRunner(name="research-host", handle_sigint=False, handle_sigterm=True)
    await runner.add_workers(Researcher("researcher"))
    async with trio.open_nursery() as nursery:
        served = await nursery.start(serve_asgi, proxy_app(runner, token), host, port)
        print(f"research host on {served.ws_url('/proxy')}", flush=True)
        await runner.run(auto_end=False)  # until Ctrl-C / SIGTERM; proxies come and go
        nursery.cancel_scope.cancel()  # then stop serving


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        # Ctrl-C as KeyboardInterrupt at the main task's checkpoints only, never inside
        # library code half-way through an operation.
        trio.run(
            partial(main, args.host, args.port, os.environ.get("PROXY_TOKEN", "s3cret")),
            restrict_keyboard_interrupt_to_checkpoints=True,
        )
    except* KeyboardInterrupt:  # Ctrl-C: one line and the usual status 130, no traceback
        print("proxy_server: interrupted", file=sys.stderr)
        sys.exit(130)
