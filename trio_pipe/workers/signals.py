"""A runner's signal watcher: the first SIGINT/SIGTERM cancels, a second stops at once.

Signals can only be received in the main thread; elsewhere the watcher reports itself
started and does nothing (logged at debug level).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Awaitable, Callable

import trio

__all__ = ["watch_signals"]

logger = logging.getLogger(__name__)


async def watch_signals(
    signals: list[signal.Signals],
    owner: str,
    first: Callable[[], Awaitable[None]],
    again: Callable[[], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Receive ``signals`` until cancelled: await ``first()`` for the first one, call
    ``again()`` for every later one. ``owner`` names the runner in the log."""
    if not signals:
        task_status.started()
        return
    if threading.current_thread() is not threading.main_thread():
        logger.debug("runner %r: not in the main thread, signals not handled", owner)
        task_status.started()
        return
    seen = 0
    with trio.open_signal_receiver(*signals) as receiver:
        task_status.started()
        async for signum in receiver:
            signame = signal.Signals(signum).name
            seen += 1
            if seen == 1:
                logger.warning("runner %r: %s received, cancelling", owner, signame)
                await first()
            else:
                logger.warning("runner %r: %s received again, stopping now", owner, signame)
                again()
