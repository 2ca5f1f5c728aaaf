"""The voice test adapter against Pipecat 1.14 (checks 22, 25, 34).

Serializer level: Pipecat's own serializers read what our protocols send. Bot level: a
Pipecat echo bot on FastAPI + uvicorn (``pipecat_voice_bot.py``, in PIPECAT_PYTHON), once
with ``ProtobufFrameSerializer`` and once with ``TwilioFrameSerializer``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trio
import trio.testing
from required_services import NO_PIPECAT, missing

from tests.interop.conftest import PipecatPeer, PipecatProcess
from trio_pipe.testing.voice import (
    PipecatAgentAdapter,
    ProtobufFrameProtocol,
    TwilioMediaStreamProtocol,
    silent_chunk,
    tone_chunk,
)

HERE = Path(__file__).parent
SERIALIZER_PEER = HERE / "pipecat_serializer_peer.py"
BOT = HERE / "pipecat_voice_bot.py"


def test_pipecat_reads_our_protobuf_audio_and_interrupt(pipecat: PipecatPeer) -> None:
    # checks 22, 25
    proto = ProtobufFrameProtocol()
    audio = proto.encode_audio(silent_chunk(0.3).data)
    assert isinstance(audio, bytes)
    request = {"deserialize": [audio.hex(), proto.encode_interrupt().hex()]}
    answer = pipecat.run_json(SERIALIZER_PEER, request)
    frame, interruption = answer["deserialize"]
    assert frame["cls"] == "InputAudioRawFrame"
    assert (frame["sample_rate"], frame["num_channels"]) == (16000, 1)
    assert abs(frame["num_frames"] - 4800) <= 2
    assert interruption["cls"] == "InterruptionFrame"


def test_pipecat_reads_our_twilio_media(pipecat: PipecatPeer) -> None:
    twilio = TwilioMediaStreamProtocol()
    media = list(twilio.encode_audio(tone_chunk(0.1).data) or [])
    request = {"twilio": {"stream_sid": twilio.stream_sid, "serialize": [], "deserialize": media}}
    answer = pipecat.run_json(SERIALIZER_PEER, request)
    frames = answer["twilio_deserialize"]
    assert len(frames) == 5
    for frame in frames:
        assert frame["cls"] == "InputAudioRawFrame" and frame["num_frames"] == 160
    first = base64.b64decode(json.loads(media[0])["media"]["payload"])
    assert len(first) == 160


async def wait_for(peer: PipecatProcess, wanted: str) -> None:
    """Read the bot's lines until ``wanted``."""
    while await peer.readline() != wanted:
        pass


@pytest.mark.parametrize("wire", ["protobuf", "twilio"])
async def test_call_a_pipecat_echo_bot(pipecat: PipecatPeer, wire: str, live_tasks) -> None:
    # check 34
    probe = await trio.run_process([pipecat.python, "-c", "import uvicorn"], check=False)
    if probe.returncode:
        missing(
            "the Pipecat peer lacks uvicorn",
            "pip install 'uvicorn<1' into it (bash scripts/test does)",
            NO_PIPECAT,
        )
    async with pipecat.open(BOT, wire, ready="ready") as bot:
        url = f"ws://127.0.0.1:{(await bot.readline()).split()[1]}/ws"
        await trio.testing.wait_all_tasks_blocked()
        before = live_tasks()
        adapter = PipecatAgentAdapter(url, wire=wire)  # type: ignore[arg-type]
        adapter.response_tail_silence = 0.3
        async with adapter:
            first = await adapter.call(tone_chunk(1.0))
            second = await adapter.call(tone_chunk(0.5))
            if wire == "protobuf":
                await adapter.interrupt()
                await wait_for(bot, "INTERRUPTION")
        await trio.testing.wait_all_tasks_blocked()
        assert live_tasks() <= before  # nothing of the adapter is left
        await wait_for(bot, "DISCONNECTED")
    # The echo is the tone. Over Twilio, Pipecat's stream resampler (soxr's fixed-rate
    # engine) holds back up to ~150 ms, which comes out with the next turn or never.
    slack = 0.05 if wire == "protobuf" else 0.2
    assert first.duration_seconds == pytest.approx(1.0, abs=slack)
    assert second.duration_seconds == pytest.approx(0.5, abs=slack)
    assert adapter.last_turn_end_reason == "tail_silence"
    assert adapter.close_code == 1000
