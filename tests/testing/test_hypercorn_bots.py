"""End to end over Hypercorn: the echo bots in a Starlette app served by trio_pipe's
``serve_asgi``, on trio_pipe's server-side ``MessageSocket``, once per protocol (the path
trio_pipe's server transport takes; check 33 in part)."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tests.testing.bots import peer_echo_bot
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice import adapter_for, tone_chunk
from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed


async def endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    async with asgi_socket(websocket) as sock:
        try:
            await peer_echo_bot(websocket.path_params["protocol"])(sock)
        except ConnectionClosed:
            pass


APP = Starlette(routes=[WebSocketRoute("/{protocol}", endpoint)])


@pytest.mark.parametrize("protocol", ["protobuf", "twilio", "raw"])
async def test_turns_against_a_hypercorn_bot(
    nursery: trio.Nursery, protocol: str, live_tasks
) -> None:
    server = await nursery.start(serve_asgi, APP)
    await trio.testing.wait_all_tasks_blocked()
    before = live_tasks()
    adapter = adapter_for(server.ws_url(f"/{protocol}"), protocol, out_rate=16000)
    adapter.response_tail_silence = 0.3
    async with adapter:
        first = await adapter.call(tone_chunk(1.0))
        second = await adapter.call(tone_chunk(0.4))
    assert first.duration_seconds == pytest.approx(1.0, abs=0.03)
    assert second.duration_seconds == pytest.approx(0.4, abs=0.03)
    assert adapter.last_turn_end_reason == "tail_silence"
    assert adapter.close_code == 1000 and not adapter.is_connected()
    await trio.testing.wait_all_tasks_blocked()
    assert live_tasks() <= before  # nothing of the adapter (or the session) is left
