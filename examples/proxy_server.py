"""A worker served behind the WebSocket proxy with Hypercorn: the remote host.

    PROXY_TOKEN=s3cret python examples/proxy_server.py --port 8765
    PROXY_TOKEN=s3cret python examples/proxy_client.py ws://127.0.0.1:8765/proxy

A ``WorkerRunner`` named ``research-host`` runs the ``researcher`` worker (its ``search``
job streams two progress updates, then answers). Each WebSocket connection to ``/proxy``
that brings the right bearer token gets its own ``WebSocketProxyServer``, which forwards
between ``researcher`` and the client's worker (named by the ``worker`` query parameter)
and finishes when the client leaves. Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyServer, accept_proxy_websocket

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
    """``/proxy``: check the token, then serve the connection with its own proxy."""
    connections = 0

    def authorize(headers) -> bool:
        return headers.get("authorization") == f"Bearer {token}"

    async def endpoint(websocket: WebSocket) -> None:
        nonlocal connections
        if not await accept_proxy_websocket(websocket, authorize=authorize):
            return  # the client got HTTP 401, and no WebSocket
        connections += 1
        gateway = WebSocketProxyServer(
            f"gateway-{connections}",  # unique per connection
            websocket=websocket,
            worker_name="researcher",
            remote_worker_name=websocket.query_params.get("worker", "asker"),
        )

        @gateway.event_handler("on_client_disconnected")
        async def left(proxy, _websocket) -> None:
            logger.info("%s: client left (%d messages in)", proxy.name, proxy.stats.delivered)

        await runner.add_workers(gateway)
        if runner.get_worker(gateway.name) is not gateway:  # a name clash: refused
            await websocket.close(1011)
            return
        await gateway.wait()  # until the client leaves, or the runner stops

    return Starlette(routes=[WebSocketRoute("/proxy", endpoint)])


async def main(host: str, port: int, token: str) -> None:
    # handle_sigterm: a process manager's stop ends the session like Ctrl-C does.
    runner = WorkerRunner(name="research-host", handle_sigterm=True)
    await runner.add_workers(Researcher("researcher"))
    async with trio.open_nursery() as nursery:
        served = await nursery.start(serve_asgi, proxy_app(runner, token), host, port)
        print(f"research host on {served.ws_url('/proxy')}", flush=True)
        await runner.run(auto_end=False)  # until SIGINT / SIGTERM; proxies come and go
        nursery.cancel_scope.cancel()  # then stop serving


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    trio.run(partial(main, args.host, args.port, os.environ.get("PROXY_TOKEN", "s3cret")))
