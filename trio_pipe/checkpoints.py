"""A synchronous action as a Trio checkpoint, with the yield after it.

Every ``async def`` of the worker API is a checkpoint (it can be cancelled and lets other
tasks run), and a cancelled send did not send. ``await checkpoint(); act()`` keeps both
promises but makes the action wait a scheduler pass: a worker's reply then reaches the
bus one pass late, and a round trip through three workers pays three passes for nothing.
:func:`act_then_yield` keeps them the way Trio's own socket sends do: cancellation is
checked first (a cancelled call raises before it acts), the action runs at once, and the
yield comes after it, while whoever it woke is already scheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec

import trio

__all__ = ["act_then_yield"]

P = ParamSpec("P")


async def act_then_yield(action: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
    """Raise ``Cancelled`` if cancelled; else ``action(*args, **kwargs)``, then yield
    (also when it raised)."""
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        action(*args, **kwargs)
    finally:
        await trio.lowlevel.cancel_shielded_checkpoint()
