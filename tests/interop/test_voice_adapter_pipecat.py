"""The voice test adapter against Pipecat 1.14 (checks 22, 25, 34).

Serializer level: Pipecat's own serializers read what our protocols send. Bot level: a
Pipecat echo bot on FastAPI + uvicorn (``pipecat_voice_bot.py``, in PIPECAT_PYTHON), once
with ``ProtobufFrameSerializer`` and once with ``TwilioFrameSerializer``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_pipe.testing.voice import (
    PipecatAgentAdapter,
    ProtobufFrameProtocol,
    TwilioMediaStreamProtocol,
    silent_chunk,
    tone_chunk,
)

PIPECAT_PYTHON = os.environ.get("PIPECAT_PYTHON")
HERE = Path(__file__).parent
SERIALIZER_PEER = HERE / "pipecat_serializer_peer.py"
BOT = HERE / "pipecat_voice_bot.py"

pytestmark = pytest.mark.skipif(
    not PIPECAT_PYTHON,
    reason="set PIPECAT_PYTHON to a python with pipecat-ai==1.14.0 (scripts/test does this)",
)


def pipecat_decodes(request: dict) -> dict:
    done = subprocess.run(
        [PIPECAT_PYTHON, str(SERIALIZER_PEER)],  # type: ignore[list-item]
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_pipecat_reads_our_protobuf_audio_and_interrupt() -> None:  # checks 22, 25
    proto = ProtobufFrameProtocol()
    audio = proto.encode_audio(silent_chunk(0.3).data)
    assert isinstance(audio, bytes)
    answer = pipecat_decodes({"deserialize": [audio.hex(), proto.encode_interrupt().hex()]})
    frame, interruption = answer["deserialize"]
    assert frame["cls"] == "InputAudioRawFrame"
    assert (frame["sample_rate"], frame["num_channels"]) == (16000, 1)
    assert abs(frame["num_frames"] - 4800) <= 2
    assert interruption["cls"] == "InterruptionFrame"


def test_pipecat_reads_our_twilio_media() -> None:
    twilio = TwilioMediaStreamProtocol()
    media = list(twilio.encode_audio(tone_chunk(0.1).data) or [])
    answer = pipecat_decodes(
        {"twilio": {"stream_sid": twilio.stream_sid, "serialize": [], "deserialize": media}}
    )
    frames = answer["twilio_deserialize"]
    assert len(frames) == 5
    for frame in frames:
        assert frame["cls"] == "InputAudioRawFrame" and frame["num_frames"] == 160
    first = base64.b64decode(json.loads(media[0])["media"]["payload"])
    assert len(first) == 160


class Lines:
    """What the bot printed so far, with a way to wait for a line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    def add(self, line: str) -> None:
        self.lines.append(line)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, wanted: str) -> str:
        with trio.fail_after(60):
            while True:
                for line in self.lines:
                    if line.startswith(wanted):
                        return line
                await self._changed.wait()


async def start_bot(nursery: trio.Nursery, wire: str) -> tuple[str, Lines]:
    """Run the Pipecat bot; its URL and the lines it prints."""
    probe = await trio.run_process(
        [PIPECAT_PYTHON, "-c", "import fastapi, uvicorn"],  # type: ignore[list-item]
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("PIPECAT_PYTHON lacks fastapi/uvicorn: pip install 'uvicorn<1' into it")
    command = [PIPECAT_PYTHON, str(BOT), wire]
    process: trio.Process = await nursery.start(
        partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
    )
    lines = Lines()

    async def read_lines() -> None:
        assert process.stdout is not None
        buffer = b""
        async for data in process.stdout:
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                lines.add(line.decode())

    nursery.start_soon(read_lines)
    port = (await lines.wait_for("PORT ")).split()[1]
    return f"ws://127.0.0.1:{port}/ws", lines


@pytest.mark.parametrize("wire", ["protobuf", "twilio"])
async def test_call_a_pipecat_echo_bot(wire: str, live_tasks) -> None:  # check 34
    async with trio.open_nursery() as nursery:
        url, lines = await start_bot(nursery, wire)
        await trio.testing.wait_all_tasks_blocked()
        before = live_tasks()
        adapter = PipecatAgentAdapter(url, wire=wire)  # type: ignore[arg-type]
        adapter.response_tail_silence = 0.3
        async with adapter:
            first = await adapter.call(tone_chunk(1.0))
            second = await adapter.call(tone_chunk(0.5))
            if wire == "protobuf":
                await adapter.interrupt()
                await lines.wait_for("INTERRUPTION")
        await trio.testing.wait_all_tasks_blocked()
        assert live_tasks() <= before  # nothing of the adapter is left
        await lines.wait_for("DISCONNECTED")
        nursery.cancel_scope.cancel()
    # The echo is the tone. Over Twilio, Pipecat's stream resampler (soxr's fixed-rate
    # engine) holds back up to ~150 ms, which comes out with the next turn or never.
    slack = 0.05 if wire == "protobuf" else 0.2
    assert first.duration_seconds == pytest.approx(1.0, abs=slack)
    assert second.duration_seconds == pytest.approx(0.5, abs=slack)
    assert adapter.last_turn_end_reason == "tail_silence"
    assert adapter.close_code == 1000
