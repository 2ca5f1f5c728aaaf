"""Event handlers: unknown names are errors, lanes keep firing order, finished owners
handle nothing (trio_pipe.events; issue 13, items 2 and 10)."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing

from trio_pipe.events import EventHandlerMixin


class Emitter(EventHandlerMixin):
    def __init__(self) -> None:
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._register_event_handler("on_a", lane="ab")
        self._register_event_handler("on_b", lane="ab")
        self._register_event_handler("on_c")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            with self._event_children().attached(nursery):
                task_status.started()
                await trio.sleep_forever()


def test_attaching_to_an_unknown_event_is_an_error():
    emitter = Emitter()
    with pytest.raises(ValueError, match=r"no event 'on_typo'.*on_a, on_b, on_c"):
        emitter.add_event_handler("on_typo", lambda obj: None)
    with pytest.raises(ValueError):
        emitter.event_handler("on_typo")
    with pytest.raises(ValueError):
        emitter._call_event_handler("on_typo")


async def test_events_of_one_lane_reach_handlers_in_firing_order():
    emitter = Emitter()
    log: list[tuple[str, int]] = []

    async def record(obj: Emitter, name: str, i: int) -> None:
        log.append((name, i))
        await trio.lowlevel.checkpoint()

    emitter.add_event_handler("on_a", record)
    emitter.add_event_handler("on_b", record)
    fired = [("a" if i % 3 else "b", i) for i in range(300)]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for name, i in fired[:10]:  # fired before the owner runs: they wait for it
                emitter._call_event_handler(f"on_{name}", name, i)
            await nursery.start(emitter.run)
            for name, i in fired[10:]:
                emitter._call_event_handler(f"on_{name}", name, i)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert log == fired


async def test_a_busy_lane_does_not_hold_back_another_lane():
    emitter = Emitter()
    release = trio.Event()
    seen: list[str] = []

    async def blocked(obj: Emitter) -> None:
        seen.append("a")
        await release.wait()

    emitter.add_event_handler("on_a", blocked)
    emitter.add_event_handler("on_c", lambda obj: seen.append("c"))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(emitter.run)
            emitter._call_event_handler("on_a")
            emitter._call_event_handler("on_c")
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(seen) == ["a", "c"]  # c ran although a is still busy
            nursery.cancel_scope.cancel()


async def test_a_raising_handler_does_not_stop_its_lane(caplog):
    emitter = Emitter()
    seen: list[int] = []

    def handler(obj: Emitter, i: int) -> None:
        seen.append(i)
        if i == 0:
            raise RuntimeError("boom")

    emitter.add_event_handler("on_c", handler)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(emitter.run)
            emitter._call_event_handler("on_c", 0)
            emitter._call_event_handler("on_c", 1)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert seen == [0, 1]
    assert emitter.event_handler_errors == 1
    assert "boom" in caplog.text


async def test_events_fired_after_the_owner_finished_are_not_handled():
    emitter = Emitter()
    seen: list[int] = []
    emitter.add_event_handler("on_c", lambda obj, i: seen.append(i))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(emitter.run)
            nursery.cancel_scope.cancel()
    emitter._call_event_handler("on_c", 1)  # no error, no task, nothing runs
    assert seen == []
