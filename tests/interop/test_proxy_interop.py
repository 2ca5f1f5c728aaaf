"""The WebSocket proxies against Pipecat 1.14's, both directions, over real sockets.

The Pipecat side (``pipecat_proxy_peer.py``) runs in its own interpreter through the shared
harness (``PIPECAT_PYTHON``):

* our ``WebSocketProxyClient`` runs a job on ``pc-worker`` behind Pipecat's
  ``WebSocketProxyServer`` (a FastAPI app under uvicorn): Pipecat's registry message
  lets our runner's ``job()`` go ahead, and the update and response come back;
* Pipecat's ``WebSocketProxyClient`` runs a job on ``trio-worker`` behind our
  ``WebSocketProxyServer`` (Starlette under Hypercorn): our registry message lets
  Pipecat's ``job()`` go ahead; when Pipecat's client leaves, our proxy finishes.
"""

from __future__ import annotations

from pathlib import Path

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from trio_pipe.bus.messages import BusJobRequestMessage
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyClient, WebSocketProxyServer

PEER = Path(__file__).with_name("pipecat_proxy_peer.py")
LIMIT = 30  # a safety net against a hang, not a timing assertion


async def test_our_client_runs_a_job_behind_pipecats_proxy_server(pipecat):
    async with pipecat.open(PEER, "serve", ready="ready") as peer:
        port = int(await peer.readline())
        voice = BaseWorker("trio-voice")
        proxy = WebSocketProxyClient(
            "proxy",
            url=f"ws://127.0.0.1:{port}/ws",
            remote_worker_name="pc-worker",
            local_worker_name="trio-voice",
        )
        disconnected = trio.Event()
        proxy.add_event_handler("on_disconnected", lambda *_: disconnected.set())
        runner = WorkerRunner(name="trio-runner", handle_sigint=False)
        await runner.add_workers(voice, proxy)
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            await voice.activate_worker("proxy")
            events = []
            with trio.fail_after(LIMIT):
                params = JobParams(name="research", payload={"query": "café"}, timeout=LIMIT)
                async with voice.job("pc-worker", params=params) as task:
                    async for event in task:
                        events.append((event.type, event.data))
            assert events == [("update", {"progress": 0.5})]
            assert task.response == {"answer": "CAFÉ", "runtime": "pipecat"}
            assert runner.registry.get("pc-worker").runner == "pc-runner"
            assert proxy.stats.decode_errors == 0
            await runner.cancel()
        assert not disconnected.is_set()  # our own stop: no disconnect event
        assert await peer.read_json() == {"disconnected": "gateway-1"}


class TrioResearcher(BaseWorker):
    @job(name="research")
    async def research(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"progress": 0.5})
        query = (message.payload or {}).get("query", "")
        await self.send_job_response(message.job_id, {"answer": query.upper(), "runtime": "trio"})


async def test_pipecats_client_runs_a_job_behind_our_proxy_server(pipecat, nursery):
    runner = WorkerRunner(name="trio-runner", handle_sigint=False)
    await runner.add_workers(TrioResearcher("trio-worker"))
    proxies: list[WebSocketProxyServer] = []

    async def endpoint(websocket):
        await websocket.accept()
        proxy = WebSocketProxyServer(
            f"gateway-{len(proxies) + 1}",
            websocket=websocket,
            worker_name="trio-worker",
            remote_worker_name="pc-voice",
        )
        proxies.append(proxy)
        await runner.add_workers(proxy)
        await proxy.wait()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    served = await nursery.start(serve_asgi, app)
    async with trio.open_nursery() as inner:
        await inner.start(lambda task_status: runner.run(auto_end=False, task_status=task_status))
        async with pipecat.open(PEER, "client", served.ws_url("/ws")) as peer:
            result = await peer.read_json()
        assert result == {
            "events": [{"type": "update", "data": {"progress": 0.5}}],
            "response": {"answer": "ÜBER", "runtime": "trio"},
        }
        with trio.fail_after(LIMIT):
            await proxies[0].wait()  # Pipecat's client left: our proxy finished
        assert proxies[0].stats.disconnects == 1 and proxies[0].stats.decode_errors == 0
        await runner.cancel()
