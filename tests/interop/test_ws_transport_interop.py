"""WebSocket transports against Pipecat 1.14, both ways, over loopback.

* trio_pipe's ``WebsocketClientTransport`` against Pipecat's ``FastAPIWebsocketTransport``
  (its echo bot on FastAPI + uvicorn, ``pipecat_voice_bot.py``);
* Pipecat's ``WebsocketClientTransport`` (``pipecat_ws_client_peer.py``) against
  trio_pipe's ``FastAPIWebsocketTransport`` (the echo bot, Hypercorn).

Protobuf frames, 16 kHz mono, no WAV header: the audio must come back byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import trio

from tests.interop.conftest import PipecatPeer
from tests.transports.websocket.ws_helpers import client_session, eventually, running
from trio_pipe.bots.echo import echo_app
from trio_pipe.frames import InputAudioRawFrame, OutputAudioRawFrame
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import WebsocketClientParams

HERE = Path(__file__).parent
PIPECAT_BOT = HERE / "pipecat_voice_bot.py"
PIPECAT_CLIENT = HERE / "pipecat_ws_client_peer.py"
FRAME = b"".join(i.to_bytes(2, "little", signed=True) for i in range(-160, 160))  # 20 ms


async def test_our_client_against_pipecat_fastapi_transport(pipecat: PipecatPeer) -> None:
    async with pipecat.open(PIPECAT_BOT, "protobuf", ready="ready") as bot:
        port = int((await bot.readline()).split()[1])
        params = WebsocketClientParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False
        )
        session = client_session(f"ws://127.0.0.1:{port}/ws", params)
        sent = FRAME * 50
        async with running(session):
            for i in range(0, len(sent), len(FRAME)):
                await session.push(OutputAudioRawFrame(sent[i : i + len(FRAME)], 16000, 1))

            def echoed() -> bytes:
                return b"".join(f.audio for f in session.mid.frames(InputAudioRawFrame))

            await eventually(lambda: len(echoed()) >= len(sent), limit=30)
            await session.task.stop_when_done()
        assert echoed() == sent
        assert session.names() == ["on_connected"]
        with trio.fail_after(30):
            lines = [await bot.readline(), await bot.readline()]
        assert lines == ["CONNECTED", "DISCONNECTED"]  # our close reached Pipecat


async def test_pipecat_client_against_our_server_transport(
    pipecat: PipecatPeer, nursery: trio.Nursery
) -> None:
    served = await nursery.start(serve_asgi, echo_app("protobuf", out_rate=16000))
    async with pipecat.open(PIPECAT_CLIENT, served.ws_url("/ws"), "1.0") as peer:
        result = await peer.read_json()
    assert result["events"] == ["connected"]  # its own close is not a disconnect
    assert bytes.fromhex(result["received"]) == bytes.fromhex(result["sent"])
