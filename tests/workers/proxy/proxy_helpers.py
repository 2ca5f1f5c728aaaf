"""Helpers shared by the proxy tests (imported by module path, never as ``conftest``).

Waits are bounded by ``LIMIT`` (a hang guard, never a timing assertion).
"""

from __future__ import annotations

import math
from typing import Any

import trio

from trio_pipe.bus.messages import BusMessage

LIMIT = 10.0


async def wait_for(predicate) -> None:
    """Wait until ``predicate()`` holds: what it watches moves with real socket I/O."""
    with trio.fail_after(LIMIT):
        while not predicate():  # noqa: ASYNC110 (nothing to wait on but the state)
            await trio.sleep(0.005)


def serving(task: trio.lowlevel.Task | None) -> bool:
    """True for a task of a test's server (Hypercorn and the tasks it runs)."""
    while task is not None:
        if task.name.startswith(
            (
                "hypercorn",
                "trio._highlevel_serve_listeners",
                "trio_pipe.serving",
            )
        ):
            return True
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return False


class Inbox:
    """A plain bus subscriber: every message goes to the test, in order."""

    def __init__(self, name: str = "inbox") -> None:
        self.name = name
        self.seen: list[BusMessage] = []
        self._send, self._receive = trio.open_memory_channel[BusMessage](math.inf)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen.append(message)
        self._send.send_nowait(message)

    async def next_of(self, cls: type | tuple[type, ...]) -> Any:
        with trio.fail_after(LIMIT):
            while True:
                message = await self._receive.receive()
                if isinstance(message, cls):
                    return message

    def of(self, cls: type | tuple[type, ...]) -> list[Any]:
        return [m for m in self.seen if isinstance(m, cls)]
