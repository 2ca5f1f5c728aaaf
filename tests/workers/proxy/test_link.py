"""ProxyLink's sends: a lone message goes from the caller, in order and bounded; a burst
goes as one batch to a batching peer, and as one write of separate messages to any other.

The link runs over an in-memory MessageSocket whose writes can be held, so the tests can
stop a send half-way and look at what is queued behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import trio
import trio.testing

from trio_pipe.bus.messages import BusTTSSpeakMessage
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.workers.proxy.link import _OUTBOX_LIMIT, ProxyLink, ProxyStats
from trio_pipe.ws.base import GOING_AWAY, ConnectionClosed, MessageSocket
from trio_pipe.ws.batch import BATCH_SUBPROTOCOL, is_batch, unpack

JSON = JSONMessageSerializer()
LIMIT = 5.0


class HeldSocket(MessageSocket):
    """An in-memory socket (batching unless told otherwise); while ``held`` is set,
    writes wait for ``release``. ``writes`` has each write's messages."""

    def __init__(self, subprotocol: str | None = BATCH_SUBPROTOCOL) -> None:
        super().__init__(write_timeout=None)
        self.subprotocol = subprotocol
        self.frames: list[bytes | str] = []
        self.writes: list[list[bytes | str]] = []
        self.held = False
        self.writing = 0  # writes in progress right now
        self._release = trio.Event()
        self._gone = trio.Event()
        self.broken: ConnectionClosed | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def release(self) -> None:
        self.held = False
        self._release.set()
        self._release = trio.Event()

    async def _send(self, data: bytes | str) -> None:
        self.writing += 1
        try:
            assert self.writing == 1, "two writes at once"
            if self.held:
                await self._release.wait()
            else:
                await trio.lowlevel.checkpoint()
            if self.broken is not None:
                self._gone.set()  # as a real connection: a failed write ends reading too
                raise self.broken
            self.frames.append(data)
            self.writes.append([data])
        finally:
            self.writing -= 1

    async def _send_many(self, messages: Sequence[bytes | str]) -> None:
        await self._send(messages[0])  # one write: held, checked and counted once
        self.frames.extend(messages[1:])
        self.writes[-1].extend(messages[1:])

    async def _receive(self) -> bytes | str:
        await self._gone.wait()
        raise ConnectionClosed(GOING_AWAY, "gone")

    async def _close(self, code: int, reason: str) -> None:
        self._gone.set()

    def _abort(self) -> None:
        self._gone.set()

    def messages(self) -> list[str]:
        """The text of every message sent, in wire order (batches unpacked)."""
        out = []
        for frame in self.frames:
            payloads = unpack(frame) if is_batch(frame) else [frame]  # type: ignore[arg-type]
            out.extend(JSON.deserialize(p).text for p in payloads)  # type: ignore[attr-defined]
        return out


def speak(text: str) -> BusTTSSpeakMessage:
    return BusTTSSpeakMessage(text=text, source="voice", target="worker")


def make_link(sock: HeldSocket) -> ProxyLink:
    return ProxyLink(
        sock,
        owner="proxy",
        serializer=JSON,
        admit=lambda message: None,
        deliver=lambda message: None,
        stats=ProxyStats(),
    )


async def send_burst(
    nursery: trio.Nursery, sock: HeldSocket, count: int
) -> tuple[HeldSocket, ProxyLink]:
    """A running link sent ``count`` messages a scheduler pass apart, as a worker answering
    a burst sends them (send_bus_message checkpoints after each), and left to write them."""
    link = make_link(sock)
    nursery.start_soon(link.run)
    with trio.fail_after(LIMIT):
        for i in range(count):
            assert await link.send(speak(str(i)))
            await trio.lowlevel.checkpoint()
        await trio.testing.wait_all_tasks_blocked()
    return sock, link


async def held_lone_send(nursery: trio.Nursery) -> tuple[HeldSocket, ProxyLink]:
    """A running link whose lone message "first" is stuck in the socket's write."""
    sock = HeldSocket()
    link = make_link(sock)
    nursery.start_soon(link.run)
    sock.held = True
    nursery.start_soon(partial(link.send, speak("first"), alone=True))
    await trio.testing.wait_all_tasks_blocked()
    return sock, link


async def test_a_lone_message_on_an_idle_link_is_sent_before_send_returns(nursery):
    sock = HeldSocket()
    link = make_link(sock)
    nursery.start_soon(link.run)
    with trio.fail_after(LIMIT):
        assert await link.send(speak("one"), alone=True)
        # No task switch to the writer was needed: it is on the wire already.
        assert sock.messages() == ["one"]
        assert link.stats.sent == 1 and link.stats.batches_sent == 0
        assert await link.send(speak("two"))  # not alone: queued for the writer
        assert sock.messages() == ["one"]
        await trio.testing.wait_all_tasks_blocked()
        assert sock.messages() == ["one", "two"]


async def test_what_is_sent_during_a_held_direct_send_goes_after_it_in_order(nursery):
    with trio.fail_after(LIMIT):
        sock, link = await held_lone_send(nursery)
        assert sock.writing == 1  # the direct send is stuck in the socket
        # Other senders meanwhile, alone or not: queued, and the writer waits its turn.
        for text in ("a", "b", "c"):
            assert await link.send(speak(text), alone=text == "b")
        await trio.testing.wait_all_tasks_blocked()
        assert sock.writing == 1 and sock.frames == []
        sock.release()
        await trio.testing.wait_all_tasks_blocked()
        assert sock.messages() == ["first", "a", "b", "c"]
        assert link.stats.sent == 4 and link.stats.batches_sent == 1


async def test_the_outbox_stays_bounded_while_a_direct_send_is_held(nursery):
    with trio.fail_after(LIMIT):
        sock, link = await held_lone_send(nursery)
        for i in range(_OUTBOX_LIMIT):
            assert await link.send(speak(str(i)))
        over = trio.Event()

        async def one_too_many() -> None:
            await link.send(speak("over"))
            over.set()

        nursery.start_soon(one_too_many)
        await trio.testing.wait_all_tasks_blocked()
        assert not over.is_set()  # the sender waits for room: backpressure holds
        sock.release()
        await over.wait()
        await trio.testing.wait_all_tasks_blocked()
        expected = ["first", *(str(i) for i in range(_OUTBOX_LIMIT)), "over"]
        assert sock.messages() == expected


async def test_a_direct_send_cancelled_half_way_leaves_the_link_working(nursery):
    sock = HeldSocket()
    link = make_link(sock)
    nursery.start_soon(link.run)
    with trio.fail_after(LIMIT):
        sock.held = True
        with trio.CancelScope() as scope:

            async def cancel_soon() -> None:
                await trio.testing.wait_all_tasks_blocked()
                assert await link.send(speak("queued"))  # waits behind the direct send
                scope.cancel()

            nursery.start_soon(cancel_soon)
            await link.send(speak("cancelled"), alone=True)
        assert scope.cancelled_caught
        sock.release()
        await trio.testing.wait_all_tasks_blocked()
        # The queued message was not stranded behind the cancelled send.
        assert sock.messages() == ["queued"]
        assert await link.send(speak("later"), alone=True)
        assert sock.messages() == ["queued", "later"]


async def test_a_direct_send_that_meets_a_closed_connection_ends_the_link(nursery):
    sock = HeldSocket()
    link = make_link(sock)
    ended: list[ConnectionClosed] = []

    async def run() -> None:
        ended.append(await link.run())

    nursery.start_soon(run)
    with trio.fail_after(LIMIT):
        sock.held = True
        sent: list[bool] = []

        async def lone() -> None:
            sent.append(await link.send(speak("lost"), alone=True))

        nursery.start_soon(lone)
        await trio.testing.wait_all_tasks_blocked()
        assert await link.send(speak("behind"))  # queued behind the doomed send
        sock.broken = ConnectionClosed(GOING_AWAY, "peer gone")
        sock.release()
        await trio.testing.wait_all_tasks_blocked()
        assert sent == [False]
        assert ended and ended[0].code == GOING_AWAY
        assert not link.is_open
        assert not await link.send(speak("after"), alone=True)
        assert sock.frames == []


async def test_a_burst_that_arrives_a_pass_at_a_time_goes_in_batches_of_16(nursery):
    # A worker answering a burst checkpoints after each answer (send_bus_message does),
    # so its messages reach the outbox one scheduler pass apart. The writer waits for
    # them until 16 are queued, so the peer can start on the first part of the burst.
    sock, link = await send_burst(nursery, HeldSocket(), 40)
    assert sock.messages() == [str(i) for i in range(40)]
    sizes = [len(unpack(frame)) if is_batch(frame) else 1 for frame in sock.frames]  # type: ignore[arg-type]
    assert sum(sizes) == 40 and len(sizes) <= 4
    assert all(size >= 16 for size in sizes[:-1])  # the writer sends what is queued
    assert link.stats.batches_sent >= 2


async def test_a_burst_to_a_peer_without_batching_goes_in_few_writes_of_its_messages(nursery):
    # A Pipecat peer reads one bus message per WebSocket message: the burst keeps that
    # shape, only its frames share a write (of 16 or more, as batches would be).
    sock, link = await send_burst(nursery, HeldSocket(subprotocol=None), 20)
    assert not any(is_batch(frame) for frame in sock.frames)  # type: ignore[arg-type]
    assert sock.messages() == [str(i) for i in range(20)]
    assert len(sock.writes) <= 2 and len(sock.writes[0]) >= 16
    assert link.stats.batches_sent == 0
    assert link.stats.sent == 20 and sock.messages_sent == 20


async def test_the_writer_waits_for_no_timer_once_nothing_new_comes(nursery, autojump_clock):
    # Under the autojump clock, any wait on time would jump it forward.
    sock = HeldSocket()
    link = make_link(sock)
    nursery.start_soon(link.run)
    start = trio.current_time()
    with trio.fail_after(LIMIT):
        assert await link.send(speak("one"))
        await trio.testing.wait_all_tasks_blocked()
    assert sock.messages() == ["one"]
    assert trio.current_time() == start


async def test_a_burst_longer_than_the_outbox_still_goes_in_order(nursery):
    count = 3 * _OUTBOX_LIMIT
    sock, _ = await send_burst(nursery, HeldSocket(), count)
    assert sock.messages() == [str(i) for i in range(count)]
    assert len(sock.frames) < count // 10
