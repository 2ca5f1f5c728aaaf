"""The output's audio backlog is bounded (``audio_out_max_backlog_secs``): audio that
arrives faster than it plays drops the oldest queued chunks, counted; the newest plays.

On ``autojump_clock``: pacing is exact and instant.
"""

from __future__ import annotations

import trio
import trio.testing
from transport_fakes import FakeServerParams, FakeWriter, output, pcm, running

from trio_pipe.frames import OutputAudioRawFrame, OutputTransportMessageFrame

SECOND = 32000  # bytes of 16 kHz mono PCM16
CHUNK = 1280  # 40 ms


def second_of(value: int) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=pcm(SECOND, value), sample_rate=16000, num_channels=1)


async def test_a_flood_keeps_only_the_newest_backlog_and_counts_the_rest(autojump_clock):
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, audio_out_max_backlog_secs=1.0)
    out = output(params, writer=writer)
    async with running(out) as h:
        # 100 s of audio at once (seconds 1..100, each its own sample value), and a
        # message in between that must survive, in order.
        for value in range(1, 51):
            await h.push(second_of(value))
        await h.push(OutputTransportMessageFrame(message={"mark": 50}))
        for value in range(51, 101):
            await h.push(second_of(value))
        await trio.testing.wait_all_tasks_blocked()
        assert out._backlog_bound.queued <= 25  # one second of 40 ms chunks
        assert out.dropped_audio_chunks >= 100 * 25 - 25 - 1
        await trio.sleep(2)
    played = [chunk[:2] for chunk in writer.audio()]
    values = [int.from_bytes(p, "little", signed=True) for p in played]
    assert values[0] in (1, 100)  # maybe one chunk taken before the flood was queued
    assert values[1:] == [100] * (len(values) - 1)  # then the newest second only
    assert len(values) <= 26
    assert any("mark" in text for text in writer.texts())  # other frames are kept


async def test_none_keeps_pipecats_unbounded_queue(autojump_clock):
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, audio_out_max_backlog_secs=None)
    out = output(params, writer=writer)
    async with running(out) as h:
        for value in range(1, 4):
            await h.push(second_of(value))
        await trio.sleep(4)
    assert out.dropped_audio_chunks == 0
    assert len(writer.audio()) == 3 * 25
