"""Hostile clients of an echo voice session, over real sockets under Hypercorn: audio
far faster than real time meets a bounded backlog (the oldest queued audio dropped,
counted); a message over the size limit, or a ping flood that never reads, ends only
that session and its socket. Another session keeps every round trip. Deadlines are hang
guards."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import hypercorn.config
import trio

from tests.transports.websocket.ws_helpers import Session, app_with_sessions, server_session
from trio_pipe.serializers.frames import RawPCMSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import FastAPIWebsocketParams
from trio_pipe.ws.client import open_client_socket

sys.path.insert(0, str(Path(__file__).parents[2] / "ws"))
from raw_peer import flood_pings, open_raw, read_until_closed, send_huge_message

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


async def test_oversize_and_ping_flood_clients_end_only_their_own_sessions(nursery):
    config = hypercorn.config.Config()
    config.websocket_max_message_size = 64 * 1024
    sessions: list[Session] = []

    def make(websocket) -> Session:
        params = FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            serializer=RawPCMSerializer(),
            allowed_origins=[],
            ws_close_timeout=0.5,
            audio_out_write_timeout_secs=0.5,
        )
        return server_session(websocket, params, echo=True)

    app = app_with_sessions(make, sessions)
    served = await nursery.start(partial(serve_asgi, app, config=config))
    url = served.ws_url("/ws")
    with trio.fail_after(LIMIT):
        async with open_client_socket(url) as calm:
            big = await open_raw(served.port)
            await send_huge_message(big, 100 << 20, 4 << 20)  # ignores the 1009
            await read_until_closed(big)
            pinger = await open_raw(served.port)
            await flood_pings(pinger)  # never reads the pongs
            # Both attacked sessions end (reading now would unblock the pongs: no attack).
            while sum(s.finished.is_set() for s in sessions) < 2:  # noqa: ASYNC110 (I/O)
                await trio.sleep(0.01)
            await read_until_closed(pinger)  # its socket is gone too
            for _ in range(10):  # the calm session: every echo comes back
                await calm.send(FRAME_20MS * 2)
                got = b""
                while len(got) < len(FRAME_20MS) * 2:
                    got += await calm.receive()
                assert got == FRAME_20MS * 2
            assert sum(s.finished.is_set() for s in sessions) == 2  # the calm one runs on
    await big.aclose()
    await pinger.aclose()
