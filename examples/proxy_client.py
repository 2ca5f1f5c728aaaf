"""A session that uses a worker on another host through the WebSocket proxy: the client.

    PROXY_TOKEN=s3cret python examples/proxy_server.py --port 8765
    PROXY_TOKEN=s3cret python examples/proxy_client.py ws://127.0.0.1:8765/proxy

The local runner has ``asker`` and a ``WebSocketProxyClient`` to the research host. The
proxy starts inactive (Pipecat's default): ``asker`` activates it when it starts, then
runs ``job("researcher", ...)`` for each query, which waits until the proxy has heard
from the host that ``researcher`` is ready, prints the progress updates and the answer,
and ends the session. Exit status 0 when every query was answered.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import trio

from trio_pipe.workers import BaseWorker, JobError, JobParams, WorkerRunner
from trio_pipe.workers.proxy import Reconnect, WebSocketProxyClient

QUERIES = ("structured concurrency", "WebSocket keepalive")


class Asker(BaseWorker):
    """Connects the proxy, asks the remote researcher, ends the session."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.answers: list[dict] = []

    async def on_activated(self, args) -> None:
        await super().on_activated(args)
        self.start_soon(self._ask)

    async def _ask(self) -> None:
        await self.activate_worker("research-proxy")  # opens the connection
        try:
            for query in QUERIES:
                params = JobParams(name="search", payload={"q": query}, timeout=10)
                async with self.job("researcher", params=params) as search:
                    async for event in search:
                        print(f"  {query}: {event.type} {event.data}")
                print(f"{query}: {search.response['found']}")
                self.answers.append(search.response)
        except JobError as exc:
            print(f"no answer: {exc}", file=sys.stderr)
        await self.end(reason="done")


async def main(url: str, token: str) -> int:
    runner = WorkerRunner(name="voice-host", handle_sigint=False)  # Ctrl-C: see below
    asker = Asker("asker")
    proxy = WebSocketProxyClient(
        "research-proxy",
        url=f"{url}?worker=asker",
        remote_worker_name="researcher",
        local_worker_name="asker",
        headers={"Authorization": f"Bearer {token}"},
        reconnect=Reconnect(initial_delay=0.5, max_attempts=5),  # off by default
    )

    @proxy.event_handler("on_disconnected")
    async def lost(worker, websocket) -> None:
        print(f"connection lost: {websocket.close_reason}", file=sys.stderr)

    await runner.add_workers(asker, proxy)
    await runner.run()  # ends when asker ends the session
    return 0 if len(asker.answers) == len(QUERIES) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8765/proxy")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        sys.exit(trio.run(main, args.url, os.environ.get("PROXY_TOKEN", "s3cret")))
    except* KeyboardInterrupt:  # Ctrl-C: one line and the usual status 130, no traceback
        print("proxy_client: interrupted", file=sys.stderr)
        sys.exit(130)
