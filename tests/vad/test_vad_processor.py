"""VADProcessor and UserTurnProcessor in a pipeline, fed 20 ms chunks on autojump_clock."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from trio_pipe.audio import resample_once
from trio_pipe.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    UserSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from trio_pipe.pipeline import Pipeline, PipelineParams, PipelineTask
from trio_pipe.processors import FrameDirection
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.testing.voice.chunk import silent_chunk, utterance_chunk
from trio_pipe.vad import UserTurnProcessor, VADParams, VADProcessor, WebRTCVADAnalyzer

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM
TURN_KINDS = (
    VADUserStartedSpeakingFrame,
    UserStartedSpeakingFrame,
    InterruptionFrame,
    VADUserStoppedSpeakingFrame,
    UserStoppedSpeakingFrame,
)


def speech_16k(silence_before: float, speech: float, silence_after: float) -> bytes:
    audio = (
        silent_chunk(silence_before).data
        + utterance_chunk(speech).data
        + silent_chunk(silence_after).data
    )
    return resample_once(audio, 24000, 16000)


async def feed(task: PipelineTask, audio: bytes) -> float:
    """Send ``audio`` as 20 ms chunks in real (mock) time; return the first chunk's time."""
    start = trio.current_time()
    for i in range(0, len(audio), 640):
        await task.queue_frame(InputAudioRawFrame(audio[i : i + 640], 16000, 1))
        await trio.sleep(0.02)
    return start


@asynccontextmanager
async def pipeline(*stages) -> AsyncIterator[tuple[PipelineTask, FrameRecorder, FrameRecorder]]:
    up, down = FrameRecorder(), FrameRecorder()
    task = PipelineTask(
        Pipeline([up, *stages, down]), params=PipelineParams(audio_in_sample_rate=16000)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        yield task, up, down
        await task.cancel()


def kinds(recorder: FrameRecorder, direction: FrameDirection, of=TURN_KINDS) -> list[type[Frame]]:
    return [
        type(r.frame)
        for r in recorder.records
        if r.direction is direction and isinstance(r.frame, of)
    ]


async def test_an_utterance_is_one_turn_both_ways_with_an_interruption(autojump_clock) -> None:
    with trio.fail_after(30):
        async with pipeline(VADProcessor(), UserTurnProcessor()) as (task, up, down):
            t0 = await feed(task, speech_16k(1.0, 1.5, 1.0))
            expected = [
                VADUserStartedSpeakingFrame,
                UserStartedSpeakingFrame,
                InterruptionFrame,
                VADUserStoppedSpeakingFrame,
                UserStoppedSpeakingFrame,
            ]
            assert kinds(down, DOWN) == expected
            assert kinds(up, UP) == expected
            started = down.times(VADUserStartedSpeakingFrame)[0] - t0
            stopped = down.times(VADUserStoppedSpeakingFrame)[0] - t0
            assert 1.2 <= started <= 1.6  # speech begins at 1.0 s
            assert 2.5 <= stopped <= 2.9  # and ends at 2.5 s
            vad = down.frames(VADUserStartedSpeakingFrame)[0]
            assert vad.start_secs == 0.2
            assert down.frames(VADUserStoppedSpeakingFrame)[0].stop_secs == 0.2
            # UserSpeakingFrame about every 200 ms while speaking
            speaking = down.times(UserSpeakingFrame)
            assert 4 <= len(speaking) <= 8
            assert all(b - a >= 0.2 - 1e-6 for a, b in itertools.pairwise(speaking))


async def test_interruptions_can_be_turned_off(autojump_clock) -> None:
    with trio.fail_after(30):
        turns = UserTurnProcessor(enable_interruptions=False)
        async with pipeline(VADProcessor(), turns) as (task, _up, down):
            await feed(task, speech_16k(0.6, 1.0, 0.6))
            assert kinds(down, DOWN) == [
                VADUserStartedSpeakingFrame,
                UserStartedSpeakingFrame,
                VADUserStoppedSpeakingFrame,
                UserStoppedSpeakingFrame,
            ]
            assert not turns.in_turn


async def test_longer_stop_secs_joins_two_utterances_into_one_turn(autojump_clock) -> None:
    audio = speech_16k(0.6, 1.0, 0.4) + speech_16k(0.0, 1.0, 1.0)
    with trio.fail_after(30):
        vad = VADProcessor(vad_analyzer=WebRTCVADAnalyzer(params=VADParams(stop_secs=0.8)))
        async with pipeline(vad, UserTurnProcessor()) as (task, _up, down):
            await feed(task, audio)
            assert kinds(down, DOWN, (UserStartedSpeakingFrame,)) == [UserStartedSpeakingFrame]
        vad = VADProcessor(vad_analyzer=WebRTCVADAnalyzer(params=VADParams(stop_secs=0.2)))
        async with pipeline(vad, UserTurnProcessor()) as (task, _up, down):
            await feed(task, audio)
            assert len(down.frames(UserStartedSpeakingFrame, DOWN)) == 2


async def test_audio_that_stops_coming_ends_speech_after_the_idle_timeout(autojump_clock) -> None:
    with trio.fail_after(30):
        vad = VADProcessor(audio_idle_timeout=1.0)
        async with pipeline(vad, UserTurnProcessor()) as (task, _up, down):
            await feed(task, speech_16k(0.6, 1.0, 0.0)[: 640 * 60])  # cut mid-utterance
            last_audio = trio.current_time() - 0.02
            assert vad.speaking
            await trio.sleep(3)
            stopped = down.times(VADUserStoppedSpeakingFrame)
            assert stopped == [pytest.approx(last_audio + 1.0, abs=0.03)]
            assert kinds(down, DOWN)[-1] is UserStoppedSpeakingFrame


async def test_audio_is_passed_on_untouched(autojump_clock) -> None:
    with trio.fail_after(10):
        async with pipeline(VADProcessor()) as (task, _up, down):
            audio = speech_16k(0.2, 0.2, 0.0)
            await feed(task, audio)
            got = b"".join(f.audio for f in down.frames(InputAudioRawFrame))
            assert got == audio
