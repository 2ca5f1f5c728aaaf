"""Runs under Pipecat 1.14's interpreter (PIPECAT_PYTHON), not trio_pipe's.

    python pipecat_proxy_peer.py serve
    python pipecat_proxy_peer.py client URL

* ``serve``: a FastAPI app under uvicorn on 127.0.0.1 (a free port), whose ``/ws``
  endpoint serves each connection with Pipecat's ``WebSocketProxyServer`` (worker
  ``pc-worker``, remote worker ``trio-voice``) on runner ``pc-runner``. ``pc-worker``'s
  ``@job(name="research")`` sends one update, then responds
  ``{"answer": <query upper-cased>, "runtime": "pipecat"}``. Prints the port, then
  ``ready``; for each connection that ends, prints ``{"disconnected": <proxy name>}``.
  Runs until killed.
* ``client URL``: Pipecat's ``WebSocketProxyClient`` (active, remote worker
  ``trio-worker``, local worker ``pc-voice``) on runner ``pc-runner``; once the remote
  worker is known, ``pc-voice`` runs ``self.job("trio-worker", ...)``, prints one JSON
  line with the events and the response (or the error), and ends the runner.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

from loguru import logger

logger.remove()  # stdout is the channel to the test

import uvicorn  # noqa: E402
from fastapi import FastAPI, WebSocket  # noqa: E402
from pipecat.pipeline.job_context import JobParams  # noqa: E402
from pipecat.pipeline.job_decorator import job  # noqa: E402
from pipecat.workers.base_worker import BaseWorker  # noqa: E402
from pipecat.workers.proxy.websocket import (  # noqa: E402
    WebSocketProxyClient,
    WebSocketProxyServer,
)
from pipecat.workers.runner import WorkerRunner  # noqa: E402


class Researcher(BaseWorker):
    @job(name="research")
    async def research(self, message):
        await self.send_job_update(message.job_id, {"progress": 0.5})
        query = (message.payload or {}).get("query", "")
        await self.send_job_response(
            message.job_id, {"answer": query.upper(), "runtime": "pipecat"}
        )


class Voice(BaseWorker):
    async def on_activated(self, args):
        await super().on_activated(args)
        self.create_task(self._ask())

    async def _ask(self):
        events = []
        params = JobParams(name="research", payload={"query": "über"}, timeout=20)
        try:
            async with self.job("trio-worker", params=params) as t:
                async for event in t:
                    events.append({"type": event.type, "data": event.data})
            result = {"events": events, "response": t.response}
        except Exception as exc:  # report, do not hang the test
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
        await self.worker_runner.end("done")


async def serve() -> None:
    runner = WorkerRunner(name="pc-runner", handle_sigint=False)
    await runner.add_workers(Researcher("pc-worker"))
    app = FastAPI()
    count = 0

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        nonlocal count
        await websocket.accept()
        count += 1
        proxy = WebSocketProxyServer(
            f"gateway-{count}",
            websocket=websocket,
            worker_name="pc-worker",
            remote_worker_name="trio-voice",
        )

        @proxy.event_handler("on_client_disconnected")
        async def on_client_disconnected(worker, ws):
            print(json.dumps({"disconnected": worker.name}), flush=True)

        await runner.add_workers(proxy)
        await proxy.wait()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    run = asyncio.create_task(runner.run(auto_end=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers only this flag)
        await asyncio.sleep(0.01)
    # uvicorn's SIGTERM handler waits for open WebSockets to end, and Pipecat's proxy
    # endpoints never do (its server proxy lingers): the test's kill must be immediate.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(sock.getsockname()[1], flush=True)
    print("ready", flush=True)
    await asyncio.gather(run, serving)


async def client(url: str) -> None:
    runner = WorkerRunner(name="pc-runner", handle_sigint=False)
    proxy = WebSocketProxyClient(
        "proxy",
        url=url,
        remote_worker_name="trio-worker",
        local_worker_name="pc-voice",
        active=True,
    )
    await runner.add_workers(Voice("pc-voice"), proxy)
    await runner.run()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve())
    else:
        asyncio.run(client(sys.argv[2]))
