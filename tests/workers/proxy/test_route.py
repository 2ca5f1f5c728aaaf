"""proxy_route: the ready proxy endpoint, under Hypercorn with real clients."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from starlette.applications import Starlette

from tests.workers.proxy.proxy_helpers import LIMIT, wait_for
from trio_pipe.bus.messages import (
    BusEndMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusWorkerRegistryMessage,
)
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner, job
from trio_pipe.workers.proxy import ProxyPolicy, proxy_route
from trio_pipe.ws.client import ConnectError, open_client_socket

JSON = JSONMessageSerializer()


class Echo(BaseWorker):
    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, message.payload)


async def serve_route(nursery, **kwargs):
    runner = WorkerRunner(name="host", handle_sigint=False)
    await runner.add_workers(Echo("worker"))
    proxies = []
    route = proxy_route(runner, "/proxy", worker_name="worker", on_proxy=proxies.append, **kwargs)
    served = await nursery.start(serve_asgi, Starlette(routes=[route]))
    await nursery.start(partial(runner.run, auto_end=False))
    return runner, proxies, served.ws_url("/proxy")


async def echo_round_trip(sock, source: str) -> BusJobResponseMessage:
    with trio.fail_after(LIMIT):
        assert isinstance(JSON.deserialize(await sock.receive()), BusWorkerRegistryMessage)
        request = BusJobRequestMessage(
            job_id="j", job_name="echo", payload={"ok": 1}, source=source, target="worker"
        )
        await sock.send(JSON.serialize(request))
        return JSON.deserialize(await sock.receive())


async def test_each_connection_gets_its_own_named_proxy_forgotten_when_it_leaves(nursery):
    runner, proxies, url = await serve_route(nursery, name_prefix="gw")
    async with open_client_socket(f"{url}?worker=asker") as sock:
        response = await echo_round_trip(sock, "asker")
        assert (response.target, response.response) == ("asker", {"ok": 1})
    async with open_client_socket(url) as sock:  # no query: the default name
        response = await echo_round_trip(sock, "client")
        assert response.target == "client"
    assert [p.name for p in proxies] == ["gw-1", "gw-2"]
    assert [p.remote_worker_name for p in proxies] == ["asker", "client"]
    for proxy in proxies:
        with trio.fail_after(LIMIT):
            await proxy.wait()
    await wait_for(lambda: runner.get_worker("gw-1") is None and runner.get_worker("gw-2") is None)


async def test_the_handshake_checks_refuse_before_any_proxy_exists(nursery):
    _runner, proxies, url = await serve_route(
        nursery,
        authorize=lambda headers: headers.get("authorization") == "Bearer yes",
        allowed_origins={"https://app.example.com"},
    )
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(url, headers={"Authorization": "Bearer no"}):
            pass
    assert info.value.status == 401
    headers = {"Authorization": "Bearer yes", "Origin": "https://evil.example.com"}
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(url, headers=headers):
            pass
    assert info.value.status == 403
    assert proxies == []
    async with open_client_socket(url, headers={"Authorization": "Bearer yes"}) as sock:
        assert (await echo_round_trip(sock, "client")).response == {"ok": 1}


async def test_a_fixed_remote_name_and_an_async_policy_choice(nursery):
    async def choose(websocket):
        await trio.lowlevel.checkpoint()
        return ProxyPolicy(allow=BusEndMessage) if websocket.query_params.get("op") else None

    _runner, proxies, url = await serve_route(nursery, remote_worker_name="pc-voice", policy=choose)
    async with open_client_socket(f"{url}?worker=ignored") as sock:
        assert (await echo_round_trip(sock, "pc-voice")).target == "pc-voice"
    assert proxies[0].remote_worker_name == "pc-voice"
    assert proxies[0].policy == ProxyPolicy()
    async with open_client_socket(f"{url}?op=1") as sock:
        await echo_round_trip(sock, "pc-voice")
        assert proxies[1].policy.allow == (BusEndMessage,)
