"""The keepalive loop and its proof of life, without sockets (virtual time)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_pipe.ws.base import (
    ABNORMAL_CLOSURE,
    ConnectionClosed,
    MessageSocket,
    watched,
)
from trio_pipe.ws.keepalive import Heard, answered_by_anything, keepalive


class Socket(MessageSocket):
    """A MessageSocket with nothing under it: records aborts, which end a receive."""

    def __init__(self) -> None:
        super().__init__(write_timeout=None)
        self.aborted_at: float | None = None
        self._gone = trio.Event()

    @property
    def headers(self) -> dict[str, str]:
        return {}

    async def _send(self, data: bytes | str) -> None:
        await trio.lowlevel.checkpoint()

    async def _receive(self) -> bytes | str:
        await self._gone.wait()
        raise ConnectionClosed(ABNORMAL_CLOSURE, "")

    async def _close(self, code: int, reason: str) -> None:
        raise ConnectionClosed(code, reason)

    def _abort(self) -> None:
        if self.aborted_at is None:
            self.aborted_at = trio.current_time()
        self._gone.set()


@pytest.mark.deadline(10)
async def test_heard_answers_waiters_from_the_mark_on(autojump_clock):
    heard = Heard()
    heard.note()
    await heard.since(0)  # already moved past the mark
    mark = heard.count
    with trio.move_on_after(5) as scope:
        await heard.since(mark)
    assert scope.cancelled_caught  # nothing new: still waiting
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heard.since, mark)
        await trio.testing.wait_all_tasks_blocked()
        heard.note()
    heard.end()
    with pytest.raises(ConnectionClosed):
        await heard.since(heard.count)


@pytest.mark.deadline(10)
async def test_a_ping_answered_by_anything_waits_only_when_it_went_out(autojump_clock):
    heard = Heard()
    sent: list[bytes] = []

    async def send(payload: bytes) -> bool:
        sent.append(payload)
        return len(sent) > 1  # the first round: not accepted yet, nothing went out

    ping = answered_by_anything(send, heard)
    await ping(1)  # returns at once: no ping, nothing to wait for
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ping, 2)
        await trio.testing.wait_all_tasks_blocked()
        heard.note()  # a message, say: as good as a pong
    assert sent == [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"]


@pytest.mark.deadline(10)
async def test_a_late_pong_aborts_even_under_a_write_no_cancel_reaches(autojump_clock):
    sock = Socket()
    started = trio.current_time()

    async def stuck_ping(serial: int) -> None:
        with trio.CancelScope(shield=True):  # as Hypercorn's writes are
            await trio.sleep(100)

    async with watched(sock):
        sock._keepalive = lambda: keepalive(sock, stuck_ping, 2.0, 3.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sock._keepalive)
            with pytest.raises(ConnectionClosed) as info:
                await sock.receive()  # the abort reaches a waiting receiver
            nursery.cancel_scope.cancel()
    assert info.value.code == ABNORMAL_CLOSURE and "no pong within 3 s" in info.value.reason
    assert sock.aborted_at == pytest.approx(started + 5.0)


@pytest.mark.deadline(10)
async def test_pongs_in_time_keep_the_connection(autojump_clock):
    sock = Socket()
    heard = Heard()

    async def send(payload: bytes) -> bool:
        heard.note()  # the peer answers at once
        return True

    with trio.move_on_after(61):
        async with watched(sock):
            await keepalive(sock, answered_by_anything(send, heard), 2.0, 1.0)
    assert sock.aborted_at is None and heard.count == 30
