"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio


def _walk(task: trio.lowlevel.Task) -> set[trio.lowlevel.Task]:
    found = {task}
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found |= _walk(child)
    return found


@pytest.fixture
def live_tasks() -> Callable[[], set[trio.lowlevel.Task]]:
    """A function returning every task alive in this run (walks from the root task).

    Compare before/after a component's ``run`` to prove it left nothing running.
    """

    def collect() -> set[trio.lowlevel.Task]:
        return _walk(trio.lowlevel.current_root_task())

    return collect
