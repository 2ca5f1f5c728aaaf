"""P13: two runners joined by the proxies over a real socket, as in a deployment.

Runner A has ``voice`` and a ``WebSocketProxyClient``; runner B (behind Hypercorn) has
``worker`` and serves each connection with a ``WebSocketProxyServer``. ``voice.job("worker")``
waits for the registry that the server sends, gets the UPDATE event and the response, and
both runners' ``run`` return cleanly when cancelled, leaving nothing running.
"""

from __future__ import annotations

import trio

from tests.workers.proxy.proxy_helpers import LIMIT, serving
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyClient


class Research(BaseWorker):
    @job(name="research")
    async def research(self, message):
        await self.send_job_update(message.job_id, {"progress": 0.5})
        query = (message.payload or {}).get("query", "")
        await self.send_job_response(message.job_id, {"answer": query.upper()})


async def test_p13_a_job_across_the_proxies_and_clean_exits(make_proxy_app, live_tasks):
    before = live_tasks()
    app = await make_proxy_app(Research("worker"))
    voice = BaseWorker("voice")
    proxy = WebSocketProxyClient(
        "proxy",
        url=app.ws_url("voice"),
        remote_worker_name="worker",
        local_worker_name="voice",
    )
    runner_a = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner_a.add_workers(voice, proxy)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner_a.run)
        assert "worker" not in runner_a.registry
        await voice.activate_worker("proxy")  # an upstream event connects the proxy
        events = []
        with trio.fail_after(LIMIT):
            params = JobParams(name="research", payload={"query": "café"}, timeout=LIMIT)
            async with voice.job("worker", params=params) as task:
                async for event in task:
                    events.append((event.type, event.data))
        assert events == [("update", {"progress": 0.5})]
        assert task.response == {"answer": "CAFÉ"}
        assert runner_a.registry.get("worker").runner == "runner-b"
        server_proxy = app.proxies[0]
        await runner_a.cancel()
    assert proxy.finished and voice.finished and proxy.websocket is None
    with trio.fail_after(LIMIT):
        await server_proxy.wait()  # the client left: the server side finished too
    await app.runner.cancel()
    with trio.fail_after(LIMIT):
        while app.runner._running:  # noqa: ASYNC110 (the runner is in the fixture's nursery)
            await trio.sleep(0.01)
    left = [t.name for t in live_tasks() - before if not serving(t)]
    assert left == []
