"""The proxy server's pings: a trio_pipe proxy client whose process froze while its link
was quiet is dropped, and its per-connection proxy finishes and is forgotten."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from tests.workers.proxy.proxy_helpers import wait_for
from tests.workers.proxy.test_route import serve_route
from tests.ws.idle_process import freeze, idle_client


@pytest.mark.deadline(40)
async def test_a_frozen_idle_proxy_client_is_dropped_and_its_proxy_forgotten(nursery):
    runner, proxies, url = await serve_route(nursery, ping_interval=0.5, ping_timeout=2.0)
    left = []
    async with idle_client("proxy", f"{url}?worker=asker") as proc:
        await wait_for(lambda: len(proxies) == 1 and runner.get_worker("proxy-1") is not None)
        proxy = proxies[0]
        proxy.event_handler("on_client_disconnected")(partial(_note, left))
        await trio.sleep(2.0)  # idle, answering pings: the link stays
        assert runner.get_worker("proxy-1") is proxy and not left
        freeze(proc)
        with trio.fail_after(15):
            await proxy.wait()
        closed = proxy.websocket.close_reason
        assert closed is not None and "no pong" in closed.reason, closed
        assert left == [proxy]
        await wait_for(lambda: runner.get_worker("proxy-1") is None)


async def _note(left, worker, websocket) -> None:
    left.append(worker)


@pytest.mark.deadline(40)
async def test_the_route_pings_by_default(nursery):
    _runner, proxies, url = await serve_route(nursery)
    async with idle_client("proxy", f"{url}?worker=asker"):
        await wait_for(lambda: len(proxies) == 1)
        sock = proxies[0].websocket
        # uvicorn's ws_ping_interval and ws_ping_timeout
        assert (sock.ping_interval, sock.ping_timeout) == (20.0, 20.0)
