"""A client that sends audio far faster than real time meets a bounded backlog: the
echo session drops the oldest queued audio (counted) instead of growing, and another
session keeps every round trip. Real sockets, Hypercorn; deadlines are hang guards."""

from __future__ import annotations

import trio

from tests.transports.websocket.ws_helpers import Session, app_with_sessions, server_session
from trio_pipe.serializers.frames import RawPCMSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import FastAPIWebsocketParams
from trio_pipe.ws.client import open_client_socket

FRAME_20MS = b"\x01\x00" * 320  # 16 kHz mono
LIMIT = 30.0
BOUND_SECS = 2.0


def echo_session(websocket) -> Session:
    params = FastAPIWebsocketParams(
        audio_in_enabled=True,
        audio_out_enabled=True,
        serializer=RawPCMSerializer(),
        allowed_origins=[],
        audio_out_max_backlog_secs=BOUND_SECS,
    )
    return server_session(websocket, params, echo=True)


async def test_an_audio_flood_drops_the_oldest_and_other_sessions_keep_round_trips(nursery):
    sessions: list[Session] = []
    served = await nursery.start(serve_asgi, app_with_sessions(echo_session, sessions))
    url = served.ws_url("/ws")
    with trio.fail_after(LIMIT):
        async with open_client_socket(url) as flood, open_client_socket(url) as calm:
            # 60 s of audio as fast as the socket takes it (the flood never reads: its
            # echo queues in the server, bounded, and in TCP buffers).
            for _ in range(3000):
                await flood.send(FRAME_20MS)
            while len(sessions) < 2:  # noqa: ASYNC110 (sessions start with socket I/O)
                await trio.sleep(0.01)
            outputs = [s.transport.output() for s in sessions]
            while not any(o.dropped_audio_chunks for o in outputs):  # noqa: ASYNC110 (I/O)
                await trio.sleep(0.01)
            output = max(outputs, key=lambda o: o.dropped_audio_chunks)
            assert output._backlog_bound.queued <= BOUND_SECS / 0.04 + 1
            for _ in range(10):  # the calm session: every echo comes back
                await calm.send(FRAME_20MS * 2)
                got = b""
                while len(got) < len(FRAME_20MS) * 2:
                    got += await calm.receive()
                assert got == FRAME_20MS * 2
