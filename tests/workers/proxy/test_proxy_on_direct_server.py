"""WebSocketProxyServer on the lean server (``ws.direct_server``) instead of Hypercorn:
the same proxy, given a MessageSocket; the handshake checks apply to its request."""

from __future__ import annotations

from functools import partial

import trio

from tests.workers.proxy.proxy_helpers import LIMIT, serving
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyClient, WebSocketProxyServer, check_handshake
from trio_pipe.ws.client import ConnectError
from trio_pipe.ws.direct import open_direct_socket
from trio_pipe.ws.direct_server import serve_direct


class Echo(BaseWorker):
    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, message.payload)


async def test_a_job_through_a_proxy_on_the_direct_server(nursery, live_tasks):
    before = live_tasks()
    host = WorkerRunner(name="host", handle_sigint=False)
    await host.add_workers(Echo("worker"))
    proxies: list[WebSocketProxyServer] = []

    async def handler(request):
        refusal = await check_handshake(
            request.headers, authorize=lambda h: h.get("authorization") == "Bearer t"
        )
        if refusal is not None:
            await request.reject(refusal.status, refusal.reason)
            return
        async with request.accept() as sock:
            proxy = WebSocketProxyServer(
                f"gw-{len(proxies)}",
                websocket=sock,
                worker_name="worker",
                remote_worker_name="voice",
            )
            proxies.append(proxy)
            await host.add_workers(proxy)
            await proxy.wait()

    served = await nursery.start(serve_direct, handler)
    await nursery.start(partial(host.run, auto_end=False))
    session = WorkerRunner(name="session", handle_sigint=False)
    voice = BaseWorker("voice")
    proxy = WebSocketProxyClient(
        "proxy",
        url=served.ws_url("/proxy"),
        remote_worker_name="worker",
        local_worker_name="voice",
        headers={"Authorization": "Bearer t"},
        active=True,
    )
    await session.add_workers(voice, proxy)
    async with trio.open_nursery() as inner:
        await inner.start(session.run)
        with trio.fail_after(LIMIT):
            params = JobParams(name="echo", payload={"n": 1}, timeout=LIMIT)
            async with voice.job("worker", params=params) as task:
                pass
        assert task.response == {"n": 1}
        await session.cancel()
    with trio.fail_after(LIMIT):
        await proxies[0].wait()  # the client left: the server's proxy finished
    assert host.get_worker("gw-0") is None

    refused = []
    try:
        async with open_direct_socket(served.ws_url("/"), headers={"Authorization": "Bearer x"}):
            pass
    except ConnectError as exc:
        refused.append(exc.status)
    assert refused == [401] and len(proxies) == 1
    await host.cancel()
    while host._running:  # noqa: ASYNC110 (the runner is in the test's nursery)
        await trio.sleep(0.01)
    left = [t.name for t in live_tasks() - before if not serving(t)]
    assert left == []
