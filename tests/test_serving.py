"""serve_asgi: Hypercorn in the caller's nursery, on a free loopback port."""

from __future__ import annotations

from functools import partial

import trio
from trio_websocket import open_websocket_url

from trio_pipe.serving import serve_asgi


async def echo_app(scope, receive, send):
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": event.get("text") or "", "bytes": None})


async def test_serves_on_a_free_port_and_stops_on_cancel(live_tasks):
    before = live_tasks()
    async with trio.open_nursery() as nursery:
        served = await nursery.start(serve_asgi, echo_app)
        assert served.port > 0
        assert served.ws_url("/ws") == f"ws://127.0.0.1:{served.port}/ws"
        async with open_websocket_url(served.ws_url("/ws")) as ws:
            await ws.send_message("hello")
            assert await ws.get_message() == "hello"
        nursery.cancel_scope.cancel()
    assert live_tasks() == before
    with trio.socket.socket() as probe:
        try:
            await probe.connect(("127.0.0.1", served.port))
        except OSError:
            pass
        else:
            raise AssertionError("server still listening after cancel")


async def test_graceful_shutdown_trigger_returns():
    stop = trio.Event()
    # A hang guard: serve_asgi not returning must fail here, not hang the run.
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_asgi, echo_app, shutdown_trigger=stop.wait))
            stop.set()
    # leaving the nursery without cancelling proves serve_asgi returned by itself


async def test_bind_failure_is_the_os_error_itself():
    import pytest

    with trio.socket.socket() as busy:
        await busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError):  # itself, not an exception group
                await nursery.start(serve_asgi, echo_app, "127.0.0.1", port)
