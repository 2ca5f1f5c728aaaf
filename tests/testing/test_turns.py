"""The turn logic without sockets (B.4, B.5; checks 6, 7, 12–20), on Trio's mock clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from trio_pipe.testing.voice import (
    AgentStreamEndedError,
    AudioChunk,
    FirstChunkTimeoutError,
    TransportNotConnectedError,
    TurnEndReason,
    TurnRecord,
    UnsupportedCapabilityError,
    VoiceAgentAdapter,
    merge_chunks,
    silent_chunk,
)

Item = AudioChunk | BaseException


def ms(n: float) -> AudioChunk:
    """n milliseconds of (silent) audio."""
    return silent_chunk(n / 1000)


class ScriptedAgent(VoiceAgentAdapter):
    """An agent that 'says' scripted items at scripted times after each send (or connect)."""

    def __init__(self) -> None:
        super().__init__()
        self.send, self.inbox = trio.open_memory_channel[Item](1000)
        self.sent: list[AudioChunk] = []
        self.log: list[str] = []
        self.connected = False
        self.recv_calls = 0

    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> None:
        self.log.append("connect")
        self.connected = True

    async def disconnect(self) -> None:
        self.log.append("disconnect")
        self.connected = False

    async def send_audio(self, chunk: AudioChunk) -> None:
        self.sent.append(chunk)

    async def recv_audio(self, timeout: float) -> AudioChunk:  # noqa: ASYNC109
        self.recv_calls += 1
        with trio.move_on_after(timeout):
            item = await self.inbox.receive()
            if isinstance(item, BaseException):
                raise item
            return item
        raise TimeoutError

    async def say(self, script: Sequence[tuple[float, Item]]) -> None:
        """Deliver each item ``delay`` seconds after the previous one."""
        for delay, item in script:
            await trio.sleep(delay)
            self.send.send_nowait(item)


async def test_async_with_connects_and_always_disconnects() -> None:  # check 7
    agent = ScriptedAgent()
    async with agent as entered:
        assert entered is agent and agent.log == ["connect"]
    assert agent.log == ["connect", "disconnect"]
    agent = ScriptedAgent()
    with pytest.raises(KeyError):
        async with agent:
            raise KeyError("body failed")
    assert agent.log == ["connect", "disconnect"]


async def test_base_interrupt_is_unsupported() -> None:  # check 6
    agent = ScriptedAgent()
    with pytest.raises(UnsupportedCapabilityError) as info:
        await agent.interrupt()
    assert info.value.capability == "interruption"
    assert info.value.adapter_name == "ScriptedAgent"
    assert isinstance(info.value, RuntimeError)


def test_tunables_and_defaults() -> None:
    agent = ScriptedAgent()
    assert (agent.response_timeout, agent.response_tail_silence, agent.response_max_duration) == (
        60.0,
        0.6,
        30.0,
    )
    assert agent.agent_hung_up is False
    assert VoiceAgentAdapter.is_connected(agent) is True  # the base default
    agent.response_timeout = 5.0
    assert ScriptedAgent().response_timeout == 60.0


async def test_silent_agent_first_chunk_timeout(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 12
    agent.response_timeout = 3.0
    async with agent:
        start = trio.current_time()
        with pytest.raises(FirstChunkTimeoutError) as info:
            await agent.call(ms(100))
    assert trio.current_time() - start == pytest.approx(3.0)
    assert info.value.timeout == 3.0 and info.value.phase == "first-chunk"
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_tail_silence_ends_the_turn(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 13
    async with agent, trio.open_nursery() as nursery:
        nursery.start_soon(agent.say, [(0.0, ms(100))] + [(0.05, ms(100))] * 4)
        start = trio.current_time()
        reply = await agent.call(None)
    assert reply.duration_seconds == pytest.approx(0.5)
    assert agent.last_turn_end_reason == TurnEndReason.TAIL_SILENCE == "tail_silence"
    # the last chunk came at 0.2 s, then 0.6 s of quiet
    assert trio.current_time() - start == pytest.approx(0.8)
    assert agent.last_turn is not None and agent.last_turn.chunk_count == 5


async def test_long_pause_splits_the_reply(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 14
    async with agent, trio.open_nursery() as nursery:
        script = [(0.0, ms(100)), (0.1, ms(100)), (1.0, ms(200)), (0.1, ms(100))]
        nursery.start_soon(agent.say, script)
        first = await agent.call(None)
        rest = await agent.call(None)
    assert first.duration_seconds == pytest.approx(0.2)
    assert rest.duration_seconds == pytest.approx(0.3)
    assert agent.last_turn_end_reason == "tail_silence"


async def test_empty_chunk_is_terminal(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 15
    async with agent:
        for item in (ms(100), ms(100), AudioChunk(b""), ms(500)):
            agent.send.send_nowait(item)
        reply = await agent.call(None)
    assert reply.duration_seconds == pytest.approx(0.2)
    assert agent.last_turn_end_reason == "terminal_chunk"


async def test_empty_first_chunk_ends_the_turn_without_speaking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    agent = ScriptedAgent()
    async with agent:
        speaking = agent.agent_speaking
        agent.send.send_nowait(AudioChunk(b""))
        reply = await agent.call(None)
    assert reply.data == b""
    assert agent.last_turn_end_reason == "terminal_chunk"
    assert not speaking.is_set()
    assert agent.last_turn is not None and agent.last_turn.latency is None


async def test_stream_ended_after_audio_returns_it(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 16
    async with agent:
        agent.send.send_nowait(ms(100))
        agent.send.send_nowait(AgentStreamEndedError("peer closed"))
        reply = await agent.call(None)
        assert reply.duration_seconds == pytest.approx(0.1)
        assert agent.last_turn_end_reason == "stream_ended"
        agent.send.send_nowait(AgentStreamEndedError("peer closed"))
        with pytest.raises(AgentStreamEndedError, match="peer closed"):
            await agent.call(None)


async def test_max_duration_caps_without_cutting(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 17
    agent.response_max_duration = 1.0
    async with agent:
        for _ in range(15):
            agent.send.send_nowait(ms(300))
        reply = await agent.call(None)
        assert agent.last_turn_end_reason == "max_duration"
        assert reply.duration_seconds == pytest.approx(1.2)  # 4 chunks: overshoots, not cut
        nxt = await agent.recv_audio(1.0)
        assert nxt.duration_seconds == pytest.approx(0.3)
    assert agent.recv_calls == 5


def test_merge() -> None:  # check 18
    chunks = [AudioChunk(b"\x01\x00", "a"), AudioChunk(b"\x02\x00"), AudioChunk(b"\x03\x00", "b")]
    merged = merge_chunks(chunks)
    assert merged.data == b"\x01\x00\x02\x00\x03\x00" and merged.transcript == "a b"
    assert merge_chunks([AudioChunk(b"", None), AudioChunk(b"", "")]).transcript is None
    single = AudioChunk(b"\x01\x00", "x")
    assert merge_chunks([single]) is single


async def test_single_chunk_turn_is_the_same_object(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()
    async with agent:
        chunk = ms(100)
        agent.send.send_nowait(chunk)
        assert await agent.call(None) is chunk


async def test_call_none_and_empty_send_nothing(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()  # check 19
    async with agent:
        agent.send.send_nowait(ms(100))
        await agent.call(None)
        agent.send.send_nowait(ms(100))
        await agent.call(AudioChunk(b""))
        assert agent.sent == []
        agent.send.send_nowait(ms(100))
        user = ms(200)
        await agent.call(user)
        assert agent.sent == [user]


async def test_not_connected_raises_unless_agent_hung_up() -> None:  # check 20
    agent = ScriptedAgent()
    with pytest.raises(TransportNotConnectedError, match="ScriptedAgent"):
        await agent.call(ms(100))
    agent.agent_hung_up = True
    agent.send.send_nowait(ms(100))
    reply = await agent.call(ms(100))
    assert reply.data == b""
    assert agent.sent == [] and agent.recv_calls == 0


async def test_agent_speaking_event_and_turn_record(autojump_clock: trio.testing.MockClock) -> None:
    agent = ScriptedAgent()
    records: list[TurnRecord] = []
    agent.add_turn_listener(records.append)
    agent.add_turn_listener(lambda record: 1 / 0)  # a broken listener does not fail the turn
    async with agent, trio.open_nursery() as nursery:
        speaking = agent.agent_speaking
        nursery.start_soon(agent.say, [(0.25, ms(100))])
        nursery.start_soon(agent.call, ms(40))
        await speaking.wait()
        woke = trio.current_time()
    assert woke == pytest.approx(0.25)
    assert agent.agent_speaking is not speaking  # the next turn has its own event
    assert not agent.agent_speaking.is_set()
    (record,) = records
    assert record.index == 1 and record.reason == "tail_silence"
    assert record.latency == pytest.approx(0.25)
    assert record.user_audio is not None
    assert record.user_audio.duration_seconds == pytest.approx(0.04)
    assert record.ended_at - record.started_at == pytest.approx(0.85)
