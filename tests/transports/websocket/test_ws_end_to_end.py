"""trio_pipe's client transport against trio_pipe's server transport (the echo bot)
over Hypercorn on loopback, protobuf both ways."""

from __future__ import annotations

import trio
import trio.testing

from tests.transports.websocket.ws_helpers import client_session, eventually, running
from trio_pipe.bots.echo import echo_app
from trio_pipe.frames import InputAudioRawFrame, OutputAudioRawFrame
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import WebsocketClientParams

FRAME_20MS = b"".join(i.to_bytes(2, "little", signed=True) for i in range(-160, 160))


async def test_client_transport_against_server_transport(nursery, live_tasks):
    served = await nursery.start(serve_asgi, echo_app("protobuf", out_rate=16000))
    await trio.testing.wait_all_tasks_blocked()
    before = live_tasks()
    params = WebsocketClientParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False
    )
    session = client_session(served.ws_url("/ws"), params)
    sent = FRAME_20MS * 50  # 1 s, sent by the client's paced output in 40 ms chunks
    async with running(session):
        for i in range(0, len(sent), len(FRAME_20MS)):
            await session.push(OutputAudioRawFrame(sent[i : i + len(FRAME_20MS)], 16000, 1))

        def echoed() -> bytes:
            return b"".join(f.audio for f in session.mid.frames(InputAudioRawFrame))

        await eventually(lambda: len(echoed()) >= len(sent))
        await session.task.stop_when_done()
    assert echoed() == sent
    assert session.names() == ["on_connected"]
    # The server's session ends once our close reaches it: then only the server remains.
    await eventually(lambda: live_tasks() <= before)
