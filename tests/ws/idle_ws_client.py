"""A trio_pipe WebSocket client process that stays silent after its handshake, to be
frozen by a test (SIGSTOP) while its session is idle.

    python idle_ws_client.py socket URL     # open_client_socket, one task receiving
    python idle_ws_client.py proxy URL      # a WebSocketProxyClient in a WorkerRunner

It sends no message and no ping of its own; while it runs, its receiving task answers the
server's pings. Prints "ready" once connected, then runs until killed.
"""

from __future__ import annotations

import sys

import trio

from trio_pipe.workers import BaseWorker, WorkerRunner
from trio_pipe.workers.proxy import WebSocketProxyClient
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import open_client_socket


async def plain_socket(url: str) -> None:
    async with open_client_socket(url) as sock:
        print("ready", flush=True)
        try:
            while True:
                await sock.receive()
        except ConnectionClosed:
            return


async def proxy_client(url: str) -> None:
    runner = WorkerRunner(name="frozen-side", handle_sigint=False)
    proxy = WebSocketProxyClient(
        "gateway",
        url=url,
        remote_worker_name="worker",
        local_worker_name="asker",
        active=True,
        ping_interval=None,  # silent: only the answers to the server's pings go out
    )

    @proxy.event_handler("on_connected")
    async def connected(worker, websocket) -> None:
        print("ready", flush=True)

    await runner.add_workers(BaseWorker("asker"), proxy)
    await runner.run(auto_end=False)


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    trio.run(plain_socket if mode == "socket" else proxy_client, url)


if __name__ == "__main__":
    main()
