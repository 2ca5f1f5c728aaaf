"""Bot speaking frames: the pure BotSpeech rules, then the output transport emitting them
from the chunks it actually writes (after pacing), on autojump_clock."""

from __future__ import annotations

import pytest
import trio
from transport_fakes import FakeWriter, ServerLikeOutput, output, pcm, running

from trio_pipe.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.transports.speaking import BOT_VAD_STOP_SECS, BotSpeech

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM
SPEAKING = (BotStartedSpeakingFrame, BotStoppedSpeakingFrame)


def test_bot_speech_rules() -> None:
    speech = BotSpeech(stop_secs=0.35, speaking_period=0.2)
    assert speech.quiet_deadline(1.0) is None
    assert speech.stop() == []  # not speaking: nothing to stop
    assert speech.chunk_played(0.0) == [BotStartedSpeakingFrame, BotSpeakingFrame]
    assert speech.chunk_played(0.1) == []
    assert speech.chunk_played(0.2) == [BotSpeakingFrame]
    assert speech.quiet_deadline(1.0) == pytest.approx(1.35)
    # an output that does not pace: judged from the last write
    assert speech.quiet_deadline(float("-inf")) == pytest.approx(0.2 + 0.35)
    assert speech.stop() == [BotStoppedSpeakingFrame]
    assert speech.stop() == []
    assert speech.chunk_played(0.25) == [BotStartedSpeakingFrame, BotSpeakingFrame]


async def test_started_at_first_written_chunk_both_ways_stopped_after_playback(
    autojump_clock,
) -> None:
    writer = FakeWriter()
    out = output(writer=writer)
    with trio.fail_after(10):
        async with running(out) as h:
            await h.push(OutputAudioRawFrame(pcm(1280 * 7), 16000, 1))  # 7 chunks, 280 ms
            await trio.sleep(2)
            times = writer.audio_times()
            assert len(times) == 7
            for recorder, direction in ((h.up, UP), (h.down, DOWN)):
                started = recorder.frames(BotStartedSpeakingFrame, direction)
                stopped = recorder.frames(BotStoppedSpeakingFrame, direction)
                assert len(started) == 1 and len(stopped) == 1
            assert h.up.times(BotStartedSpeakingFrame)[0] == pytest.approx(times[0])
            # the last chunk plays until times[-1] + 40 ms; then stop_secs of quiet
            assert h.up.times(BotStoppedSpeakingFrame)[0] == pytest.approx(
                times[-1] + 0.04 + BOT_VAD_STOP_SECS
            )
            # BotSpeakingFrame at most every 200 ms of playback
            assert len(h.up.frames(BotSpeakingFrame, UP)) == 2


async def test_live_audio_with_short_gaps_is_one_utterance(autojump_clock) -> None:
    out = output()
    with trio.fail_after(10):
        async with running(out) as h:
            for _ in range(10):  # chunks arriving live, 20 ms apart
                await h.push(OutputAudioRawFrame(pcm(640), 16000, 1))
                await trio.sleep(0.02)
            await trio.sleep(1)
            kinds = [type(r.frame) for r in h.up.records if isinstance(r.frame, SPEAKING)]
            assert kinds == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame]


async def test_tts_stopped_ends_speech_after_the_audio_before_it(autojump_clock) -> None:
    writer = FakeWriter()
    out = output(writer=writer)
    with trio.fail_after(10):
        async with running(out) as h:
            await h.push(TTSAudioRawFrame(pcm(1280 * 3), 16000, 1), TTSStoppedFrame())
            await trio.sleep(0.2)
            times = writer.audio_times()
            assert len(times) == 3
            stopped = h.up.times(BotStoppedSpeakingFrame)
            assert stopped == [pytest.approx(times[-1] + 0.04)]


async def test_interruption_stops_speech_and_a_late_write_does_not_restart_it(
    autojump_clock,
) -> None:
    writer = FakeWriter()
    out = output(writer=writer, cls=ServerLikeOutput)
    with trio.fail_after(10):
        async with running(out) as h:
            await h.push(OutputAudioRawFrame(pcm(1280 * 20), 16000, 1))
            await trio.sleep(0.1)
            await h.task.queue_frame(InterruptionFrame())
            await trio.sleep(1)
            kinds = [type(r.frame) for r in h.up.records if isinstance(r.frame, SPEAKING)]
            assert kinds == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame]
            assert len(writer.audio()) < 5
            stopped_at = h.up.times(BotStoppedSpeakingFrame)[0]
            interrupted_at = h.up.times(InterruptionFrame)[0]
            assert stopped_at == pytest.approx(interrupted_at)


async def test_end_stops_speech_before_the_end_frame(autojump_clock) -> None:
    out = output()
    with trio.fail_after(10):
        async with running(out) as h:
            await h.push(OutputAudioRawFrame(pcm(1280 * 2), 16000, 1), EndFrame())
            await trio.sleep(2)
            kinds = [
                type(r.frame) for r in h.down.records if isinstance(r.frame, (*SPEAKING, EndFrame))
            ]
            assert kinds == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame, EndFrame]


async def test_no_audio_no_speaking_frames(autojump_clock) -> None:
    out = output()
    with trio.fail_after(10):
        async with running(out) as h:
            await trio.sleep(1)
            assert not h.up.frames(SPEAKING) and not h.down.frames(SPEAKING)


def test_speaking_frames_have_pipecat_wire_names() -> None:
    from trio_pipe import frames
    from trio_pipe.serializers.registry import default_registry

    registry = default_registry()
    for name in (
        "UserStartedSpeakingFrame",
        "UserStoppedSpeakingFrame",
        "UserSpeakingFrame",
        "VADUserStartedSpeakingFrame",
        "VADUserStoppedSpeakingFrame",
        "BotStartedSpeakingFrame",
        "BotStoppedSpeakingFrame",
        "BotSpeakingFrame",
    ):
        cls = getattr(frames, name)
        assert registry.wire_name_of(cls) == f"pipecat.frames.frames.{name}"
        assert issubclass(cls, frames.SystemFrame)
    vad = frames.VADUserStartedSpeakingFrame(start_secs=0.2)
    assert vad.start_secs == 0.2 and vad.timestamp > 0


async def test_an_output_that_does_not_pace_still_sees_one_utterance(autojump_clock) -> None:
    class Unpaced(type(output())):  # a Pipecat-style subclass with its own write
        async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
            return True

    out = Unpaced(output()._params, writer=FakeWriter())
    with trio.fail_after(10):
        async with running(out) as h:
            for _ in range(10):
                await h.push(OutputAudioRawFrame(pcm(1280), 16000, 1))
                await trio.sleep(0.04)
            await trio.sleep(1)
            kinds = [type(r.frame) for r in h.up.records if isinstance(r.frame, SPEAKING)]
            assert kinds == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame]
