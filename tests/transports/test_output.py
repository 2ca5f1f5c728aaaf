"""BaseOutputTransport with a fake WebSocket writer: chunking, pacing, WAV, packets,
messages, interruption, End/Cancel, closed socket, write timeout (T37–T58 without a socket).

Every test runs on ``autojump_clock`` (pytest-trio only installs a clock fixture that is
a test argument): send times are exact.
"""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing
from transport_fakes import (
    FakeSerializer,
    FakeServerParams,
    FakeWriter,
    ServerLikeOutput,
    output,
    pcm,
    running,
)

from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    OutputTransportReadyFrame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from trio_pipe.processors import FrameDirection

DOWN = FrameDirection.DOWNSTREAM
UP = FrameDirection.UPSTREAM


def audio(n_bytes: int, rate: int = 16000, channels: int = 1) -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=pcm(n_bytes), sample_rate=rate, num_channels=channels)


def rel_ms(times: list[float]) -> list[float]:
    return [round((t - times[0]) * 1000, 6) for t in times]


async def test_start_resolves_rate_chunk_and_pushes_ready_upstream(autojump_clock) -> None:
    """O1."""
    serializer = FakeSerializer()
    out = output(serializer=serializer)
    async with running(out, out_rate=24000) as h:
        assert out.sample_rate == 24000 and out.audio_chunk_size == 1920
        assert len(h.up.frames(OutputTransportReadyFrame, UP)) == 1
        assert len(h.down.frames(StartFrame)) == 1
        assert serializer.setups == 1


async def test_16k_mono_chunks_remainder_and_pacing(autojump_clock) -> None:
    """T37 and T39: 16000 bytes -> 12 x 1280 at 0, 0, 40, ..., 400 ms; 640 held back."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        await h.push(audio(16000))
        await trio.sleep(1)
        assert [len(a) for a in writer.audio()] == [1280] * 12
        assert rel_ms(writer.audio_times()) == [0, 0, *range(40, 401, 40)]
        assert out._chunker.buffered == 640
        assert len(h.down.frames(OutputAudioRawFrame)) == 12


async def test_idle_gap_restarts_clock_without_catch_up(autojump_clock) -> None:
    """T40."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        await h.push(audio(1280 * 4))
        await trio.sleep(1.0)
        first = len(writer.sent)
        await h.push(audio(1280 * 3))
        await trio.sleep(1.0)
        times = writer.audio_times()[first:]
        assert rel_ms(times) == [0, 0, 40]


async def test_stereo_chunks_every_40ms(autojump_clock) -> None:
    """T41: 16 kHz stereo, 2560-byte chunks, 40 ms apart (Pipecat: 80 ms)."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, audio_out_channels=2)
    out = output(params, writer=writer)
    async with running(out) as h:
        await h.push(audio(2560 * 5, channels=2))
        await trio.sleep(1)
        assert [len(a) for a in writer.audio()] == [2560] * 5
        assert rel_ms(writer.audio_times()) == [0, 0, 40, 80, 120]


async def test_resampled_into_8k_transport(autojump_clock) -> None:
    """T42: 16 kHz audio into an 8 kHz transport: 640-byte chunks, half the length."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, audio_out_sample_rate=8000)
    out = output(params, writer=writer)
    async with running(out) as h:
        for _ in range(10):  # a stream in pieces: the resampler keeps its state
            await h.push(audio(3200))
        await trio.sleep(2)
        sent = writer.audio()
        assert all(len(a) == 640 for a in sent)
        total = sum(map(len, sent)) + out._chunker.buffered
        assert abs(total - 16000) <= 2  # one sample


async def test_wav_header_per_chunk(autojump_clock) -> None:
    """T43."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, add_wav_header=True)
    out = output(params, writer=writer)
    async with running(out, out_rate=24000) as h:
        await h.push(audio(1920 * 2, rate=24000))
        await trio.sleep(1)
        for message in writer.audio():
            assert len(message) == 44 + 1920
            assert message[:4] == b"RIFF" and message[8:12] == b"WAVE"
            assert int.from_bytes(message[24:28], "little") == 24000
            assert int.from_bytes(message[22:24], "little") == 1


async def test_wav_wrapping_of_five_bytes(autojump_clock) -> None:
    """T44: the O6 example, through write_audio_frame."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, add_wav_header=True)
    out = output(params, writer=writer)
    async with running(out):
        frame = OutputAudioRawFrame(
            audio=bytes.fromhex("0100020003"), sample_rate=16000, num_channels=1
        )
        assert await out.write_audio_frame(frame)
    expected = bytes.fromhex(
        "52494646 28000000 57415645 666d7420 10000000 0100 0100 803e0000 007d0000 0200 1000"
        " 64617461 04000000 01000200"
    )
    assert writer.audio() == [expected]
    assert len(expected) == 48


async def test_fixed_packets_carry_remainder(autojump_clock) -> None:
    """T45."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, fixed_audio_packet_size=640)
    out = output(params, writer=writer)
    async with running(out):
        assert await out.write_audio_frame(audio(1000))
        assert [len(a) for a in writer.audio()] == [640]
        assert await out.write_audio_frame(audio(1000))
        assert [len(a) for a in writer.audio()] == [640, 640, 640]
        assert out._packetizer.pending == 80


async def test_fixed_packets_cleared_on_interruption(autojump_clock) -> None:
    """T46."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, fixed_audio_packet_size=640)
    out = output(params, writer=writer, cls=ServerLikeOutput)
    async with running(out) as h:
        assert await out.write_audio_frame(OutputAudioRawFrame(pcm(1000, 7), 16000, 1))
        await h.push(InterruptionFrame())
        await trio.sleep(0.1)
        assert out._packetizer.pending == 0
        assert await out.write_audio_frame(OutputAudioRawFrame(pcm(640, 9), 16000, 1))
        assert writer.audio()[-1] == pcm(640, 9)


async def test_fixed_packets_never_split_a_message(autojump_clock) -> None:
    """T47: a binary message payload goes whole, between audio packets."""
    writer = FakeWriter()
    params = FakeServerParams(audio_out_enabled=True, fixed_audio_packet_size=640)
    out = output(params, writer=writer, serializer=FakeSerializer(binary_messages=True))
    async with running(out):
        await out.write_audio_frame(audio(1000))
        await out.send_message(OutputTransportMessageFrame(message={"k": "v"}))
        await out.write_audio_frame(audio(280))
    assert writer.payloads() == [pcm(640), b'MSG{"k": "v"}', pcm(640)]


async def test_urgent_message_overtakes_queued_audio(autojump_clock) -> None:
    """T48."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        await h.push(audio(1280 * 5))
        await trio.sleep(0.05)  # two chunks are out, the third is being paced
        await h.task.queue_frame(OutputTransportMessageUrgentFrame(message="now"))
        await trio.sleep(1)
        payloads = writer.payloads()
        assert payloads.index('"now"') <= 3
        assert len(writer.audio()) == 5
        assert h.down.frames(OutputTransportMessageUrgentFrame) == []


async def test_ordered_message_after_earlier_audio_then_downstream(autojump_clock) -> None:
    """T49 and T52."""
    writer = FakeWriter()
    out = output(writer=writer)
    message = OutputTransportMessageFrame(message={"n": 1})
    text = TextFrame("hello")
    async with running(out) as h:
        await h.push(audio(1280 * 3), message, text)
        await trio.sleep(1)
        assert writer.payloads()[-1] == '{"n": 1}'
        assert len(writer.payloads()) == 4  # nothing sent for the TextFrame
        sent_at = writer.sent[-1][0]
        assert sent_at == writer.audio_times()[-1] + 0.04  # after the last chunk's pacing
        down = h.down.frames((OutputAudioRawFrame, OutputTransportMessageFrame, TextFrame))
        assert down[-2:] == [message, text]


async def test_server_interruption_mid_stream(autojump_clock) -> None:
    """T50: at most one old chunk follows, then the interruption, then new audio at once."""
    writer = FakeWriter()
    out = output(writer=writer, cls=ServerLikeOutput)
    async with running(out) as h:
        await h.push(OutputAudioRawFrame(pcm(1280 * 20, 1), 16000, 1))
        await trio.sleep(0.1)
        old_before = len(writer.audio())
        await h.task.queue_frame(InterruptionFrame())
        await trio.lowlevel.checkpoint()  # let the interruption through
        t_new = trio.current_time()
        await h.push(OutputAudioRawFrame(pcm(1280 * 2, 2), 16000, 1))
        await trio.sleep(1)
        payloads = writer.payloads()
        i = payloads.index("interruption")
        old_after = [p for p in payloads[:i] if p == pcm(1280, 1)]
        assert len(old_after) - old_before <= 1
        assert payloads[i + 1 :] == [pcm(1280, 2)] * 2
        new_times = [t for t, d in writer.sent if d == pcm(1280, 2)]
        assert new_times[0] == pytest.approx(t_new)
        assert rel_ms(new_times) == [0, 0]
        assert len(h.down.frames(InterruptionFrame)) == 1


async def test_client_interruption_sends_nothing_but_drops_audio(autojump_clock) -> None:
    """T51 (the base output behaves like Pipecat's client)."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        await h.push(OutputAudioRawFrame(pcm(1280 * 20, 1), 16000, 1))
        await trio.sleep(0.1)
        await h.task.queue_frame(InterruptionFrame())
        await trio.sleep(1)
        assert "interruption" not in writer.payloads()
        assert len(writer.audio()) < 8
        assert len(h.down.frames(InterruptionFrame)) == 1


async def test_audio_disabled_is_neither_sent_nor_forwarded_and_no_silence(autojump_clock) -> None:
    """T53."""
    writer = FakeWriter()
    out = output(FakeServerParams(audio_out_enabled=False), writer=writer, cls=ServerLikeOutput)
    async with running(out) as h:
        await h.push(audio(1280 * 3), EndFrame())
        await trio.sleep(3)
        assert writer.audio() == []
        assert writer.payloads() == ["end"]
        assert h.down.frames(OutputAudioRawFrame) == []
        assert h.task.has_finished()


async def test_end_flushes_tail_then_silence_then_end_payload(autojump_clock) -> None:
    """T38 (EndFrame) and T54."""
    writer = FakeWriter()
    out = output(writer=writer, cls=ServerLikeOutput)
    async with running(out) as h:
        await h.push(audio(1280 + 640), EndFrame())
        await trio.sleep(5)
        payloads = writer.payloads()
        assert payloads[0] == pcm(1280)
        assert payloads[1] == pcm(640) + bytes(640)  # the tail, zero-padded
        assert payloads[2] == bytes(64000)  # 2 s of silence, one message
        assert payloads[3:] == ["end"]
        assert writer.closed_by_release
        assert h.down.frames(EndFrame) and h.task.has_finished()


async def test_tts_stopped_flushes_padded_remainder(autojump_clock) -> None:
    """T38 (TTSStoppedFrame): remainder padded, then the TTSStoppedFrame downstream."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        tts = TTSAudioRawFrame(audio=pcm(1280 + 100), sample_rate=16000, num_channels=1)
        await h.push(tts, TTSStoppedFrame())
        await trio.sleep(1)
        assert writer.audio() == [pcm(1280), pcm(100) + bytes(1180)]
        down = h.down.frames((OutputAudioRawFrame, TTSStoppedFrame))
        assert [type(f) for f in down] == [TTSAudioRawFrame, TTSAudioRawFrame, TTSStoppedFrame]


async def test_uninterruptible_audio_survives_interruption(autojump_clock) -> None:
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        keep = OutputAudioRawFrame(pcm(1280 * 3, 5), 16000, 1)
        keep.interruptible = False
        await h.push(OutputAudioRawFrame(pcm(1280 * 3, 1), 16000, 1), keep)
        await trio.lowlevel.checkpoint()
        await h.task.queue_frame(InterruptionFrame())
        await trio.sleep(1)
        assert writer.audio().count(pcm(1280, 5)) == 3


async def test_closed_socket_writes_fail_fast_and_forward_nothing(autojump_clock) -> None:
    """T55."""
    writer = FakeWriter()
    writer.is_connected = False
    out = output(writer=writer)
    async with running(out) as h:
        t0 = trio.current_time()
        await h.push(audio(1280 * 10), OutputTransportMessageFrame(message="m"))
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == t0  # no pacing sleep
        assert writer.sent == []
        assert h.down.frames(OutputAudioRawFrame) == []
        assert len(h.down.frames(OutputTransportMessageFrame)) == 1
        assert not await out.write_audio_frame(audio(1280))


async def test_send_that_never_returns_is_bounded(autojump_clock) -> None:
    """T56."""
    writer = FakeWriter()
    writer.hang = True
    params = FakeServerParams(audio_out_enabled=True, audio_out_write_timeout_secs=2.0)
    out = output(params, writer=writer)
    async with running(out) as h:
        t0 = trio.current_time()
        await h.push(audio(1280 * 3))
        await trio.sleep(10)
        (error,) = h.up.frames(ErrorFrame, UP)
        assert error.processor is out and "timed out" in error.error
        assert h.up.times(ErrorFrame)[0] - t0 == pytest.approx(2.0)
        assert not out.is_usable
        t1 = trio.current_time()
        assert not await out.write_audio_frame(audio(1280))
        assert trio.current_time() == t1
        assert h.down.frames(OutputAudioRawFrame) == []


async def test_urgent_send_that_never_returns_is_bounded(autojump_clock) -> None:
    writer = FakeWriter()
    writer.hang = True
    params = FakeServerParams(audio_out_enabled=True, audio_out_write_timeout_secs=1.0)
    out = output(params, writer=writer)
    async with running(out) as h:
        await h.task.queue_frame(OutputTransportMessageUrgentFrame(message="x"))
        await trio.sleep(5)
        assert len(h.up.frames(ErrorFrame, UP)) == 1


async def test_serializer_failure_loses_only_that_frame(autojump_clock) -> None:
    """T57."""
    writer = FakeWriter()
    out = output(writer=writer)
    async with running(out) as h:
        await h.push(
            OutputTransportMessageFrame(message="raise"),
            OutputTransportMessageFrame(message="fine"),
        )
        await trio.sleep(1)
        assert writer.payloads() == ['"fine"']
        assert out.dropped_frames == 1


async def test_cancel_drops_queue_sends_cancel_and_goes_downstream(autojump_clock) -> None:
    """T58."""
    writer = FakeWriter()
    out = output(writer=writer, cls=ServerLikeOutput)
    async with running(out) as h:
        await h.push(audio(1280 * 20))
        await trio.sleep(0.1)
        sent_before = len(writer.audio())
        await h.task.cancel()
        await trio.sleep(1)
        assert len(writer.audio()) <= sent_before + 1
        assert writer.payloads()[-1] == "cancel"
        assert writer.closed_by_release
        assert len(h.down.frames(CancelFrame)) == 1


async def test_text_frame_upstream_passes(autojump_clock) -> None:
    out = output()
    async with running(out) as h:
        frame = TextFrame("up")
        await h.task.queue_frame(frame, UP)
        await trio.testing.wait_all_tasks_blocked()
        assert h.up.frames(TextFrame, UP) == [frame]


async def test_no_writer_means_nothing_is_written(autojump_clock) -> None:
    out = output()
    out.set_writer(None)
    async with running(out) as h:
        await h.push(audio(1280 * 2))
        await trio.sleep(1)
        assert h.down.frames(OutputAudioRawFrame) == []


async def test_both_halves_leave_nothing_running(autojump_clock, live_tasks) -> None:
    """T14 for transports: an EndFrame run of input + output returns with no task left."""
    from transport_fakes import input_transport

    from trio_pipe.pipeline import Pipeline, PipelineTask

    before = live_tasks()
    writer = FakeWriter()
    inp, out = input_transport(), output(writer=writer, cls=ServerLikeOutput)
    task = PipelineTask(Pipeline([inp, out]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        await inp.receive_message(pcm(640))
        await task.queue_frame(audio(1280 * 3))
        await task.stop_when_done()
    assert writer.payloads()[-1] == "end"
    assert live_tasks() == before
