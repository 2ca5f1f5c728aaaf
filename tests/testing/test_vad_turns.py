"""End of turn by voice activity: the pure detector, drain_turn on a mock clock, the
adapter and ``trio-pipe call --vad`` against real bots."""

from __future__ import annotations

import json
import sys

import trio

from trio_pipe.bots import echo_app
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice import (
    AudioChunk,
    SpeechEndDetector,
    TurnEndReason,
    adapter_for,
    drain_turn,
    silent_chunk,
    utterance_chunk,
)
from trio_pipe.vad import VADParams

CHUNK = 0.04


def pieces(chunk: AudioChunk) -> list[AudioChunk]:
    size = int(24000 * CHUNK) * 2
    return [AudioChunk(chunk.data[i : i + size]) for i in range(0, len(chunk.data), size)]


def test_detector_ends_after_speech_then_stop_secs_of_quiet() -> None:
    detect = SpeechEndDetector(VADParams(stop_secs=0.3))
    speech = pieces(utterance_chunk(1.5))
    assert not any(detect(c) for c in speech)
    assert detect.heard_speech
    quiet = pieces(silent_chunk(1.0))
    ended = [detect(c) for c in quiet]
    first_end = ended.index(True)
    assert 0.3 <= (first_end + 1) * CHUNK <= 0.5


def test_silence_alone_never_ends_a_turn() -> None:
    detect = SpeechEndDetector()
    assert not any(detect(c) for c in pieces(silent_chunk(2.0)))
    assert not detect.heard_speech


async def test_a_bot_that_streams_silence_after_speaking(autojump_clock) -> None:
    stream = pieces(utterance_chunk(1.5)) + pieces(silent_chunk(10.0))

    def recv_from(items: list[AudioChunk]):
        it = iter(items)

        async def recv(timeout: float) -> AudioChunk:  # noqa: ASYNC109
            await trio.sleep(CHUNK)  # a chunk every 40 ms, in real time
            return next(it)

        return recv

    with trio.fail_after(60):
        drained = await drain_turn(
            recv_from(stream),
            response_timeout=5,
            response_tail_silence=0.6,
            response_max_duration=8,
        )
        assert drained.reason is TurnEndReason.MAX_DURATION  # no pause ever comes
        drained = await drain_turn(
            recv_from(stream),
            response_timeout=5,
            response_tail_silence=0.6,
            response_max_duration=8,
            speech_ended=SpeechEndDetector(VADParams(stop_secs=0.3)),
        )
        assert drained.reason is TurnEndReason.VOICE_ENDED
        assert 1.5 + 0.3 <= drained.audio.duration_seconds <= 1.5 + 0.6


async def test_adapter_ends_turns_by_vad_against_a_streaming_echo(nursery) -> None:
    server = await nursery.start(serve_asgi, echo_app("protobuf"))
    # 2 s of trailing silence: the echo bot streams it back, so no pause ends the reply
    adapter = adapter_for(server.ws_url("/ws"), "protobuf", trailing_silence=2.0)
    adapter.response_tail_silence = 0.6
    adapter.end_of_turn_vad = VADParams(stop_secs=0.3)
    with trio.fail_after(30):
        async with adapter:
            reply = await adapter.call(utterance_chunk(1.5))
    assert adapter.last_turn_end_reason == "voice_ended"
    assert 1.5 <= reply.duration_seconds <= 2.4


def call_argv(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trio_pipe", "call", url, "--json", *extra]


async def test_call_vad_flag_and_the_turn_taking_bot(nursery) -> None:
    plain = await nursery.start(serve_asgi, echo_app("protobuf"))
    argv = call_argv(plain.ws_url("/ws"), "--vad", "--trailing-silence", "2")
    done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    (turn,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert turn["ended_by"] == "voice_ended"

    # the default serve bot: waits for the end of the turn, then says it back
    turns = await nursery.start(serve_asgi, echo_app("protobuf", turns=True))
    argv = call_argv(turns.ws_url("/ws"), "--turns", "2", "--trailing-silence", "0.5")
    done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    for turn in [json.loads(line) for line in done.stdout.decode().splitlines()]:
        # the reply starts after the user stopped (VAD stop_secs), never over them
        assert 150 <= turn["latency_ms"] <= 600
        assert 1.5 <= turn["received_s"] <= 2.4  # 1.5 s, stop_secs, some pre-roll


def test_bad_vad_stop_secs_is_a_one_line_error() -> None:
    import subprocess

    done = subprocess.run(
        call_argv("ws://127.0.0.1:9/ws", "--vad", "--vad-stop-secs", "-1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--vad-stop-secs" in done.stderr.strip().splitlines()[-1]
