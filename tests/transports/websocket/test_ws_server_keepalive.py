"""The server transport's keepalive pings (ws_ping_interval / ws_ping_timeout): a client
process frozen while its session is quiet ends the session as a disconnect."""

from __future__ import annotations

import pytest
import trio
from starlette.websockets import WebSocket

from tests.transports.websocket.ws_helpers import Session, app_with_sessions, server_session
from tests.ws.idle_process import freeze, idle_client
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import FastAPIWebsocketParams


def params(**kw) -> FastAPIWebsocketParams:
    return FastAPIWebsocketParams(serializer=ProtobufFrameSerializer(), allowed_origins=[], **kw)


def test_pings_are_on_by_default_with_uvicorns_values() -> None:
    assert (params().ws_ping_interval, params().ws_ping_timeout) == (20.0, 20.0)
    with pytest.raises(ValueError):
        params(ws_ping_interval=0)


@pytest.mark.deadline(40)
async def test_a_client_frozen_while_the_session_is_quiet_ends_it(nursery):
    sessions: list[Session] = []

    def make(websocket: WebSocket) -> Session:
        return server_session(websocket, params(ws_ping_interval=0.5, ws_ping_timeout=2.0))

    served = await nursery.start(serve_asgi, app_with_sessions(make, sessions))
    async with idle_client("socket", served.ws_url("/ws")) as proc:
        with trio.fail_after(10):
            while not sessions:  # noqa: ASYNC110 (the endpoint appends it)
                await trio.sleep(0.01)
        session = sessions[0]
        await trio.sleep(2.0)  # quiet, pings answered: the session goes on
        assert "on_client_disconnected" not in session.names()
        freeze(proc)
        with trio.fail_after(15):
            await session.finished.wait()  # cancelled on the disconnect
    assert session.names() == ["on_client_connected", "on_client_disconnected"]
    reason = session.transport.client.socket.close_reason
    assert reason is not None and "no pong" in reason.reason, reason
