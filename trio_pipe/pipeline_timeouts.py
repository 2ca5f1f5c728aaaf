"""The timeouts a pipeline task keeps: start, idle and heartbeat (Pipecat 1.14's names).

* start: the ``StartFrame`` must reach the end of the pipeline within
  ``start_timeout_secs`` or the task gives up (``on_pipeline_timeout``) and ends;
* idle: when none of ``idle_timeout_frames`` (user or bot activity) has been seen for
  ``idle_timeout_secs``, ``on_idle_timeout`` fires and, by default, the task is cancelled;
* heartbeats (``PipelineParams.enable_heartbeats``): a ``HeartbeatFrame`` enters the
  pipeline every ``heartbeats_period_secs``; when none has come out of the other end for
  ``heartbeats_monitor_secs``, ``on_heartbeat_timeout`` fires (again every
  ``heartbeats_monitor_secs`` while the stall lasts).

The bookkeeping is :class:`Deadline` (plain, clock given by the caller); the loops are
:func:`watch_deadline` and :class:`Heartbeats`, children of the task's nursery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from trio_pipe.frames import (
    BotSpeakingFrame,
    Frame,
    HeartbeatFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserSpeakingFrame,
    UserStartedSpeakingFrame,
)

__all__ = [
    "CANCEL_TIMEOUT_SECS",
    "DEFAULT_IDLE_TIMEOUT_FRAMES",
    "HEARTBEAT_MONITOR_SECS",
    "HEARTBEAT_SECS",
    "IDLE_TIMEOUT_SECS",
    "START_TIMEOUT_SECS",
    "Deadline",
    "Heartbeats",
    "watch_deadline",
]

logger = logging.getLogger(__name__)

# Pipecat 1.14's defaults (pipecat.pipeline.worker).
HEARTBEAT_SECS = 1.0
HEARTBEAT_MONITOR_SECS = 10.0
IDLE_TIMEOUT_SECS = 300.0
CANCEL_TIMEOUT_SECS = 20.0
START_TIMEOUT_SECS = 20.0

#: Frames that show user or bot activity (Pipecat's default ``idle_timeout_frames``).
DEFAULT_IDLE_TIMEOUT_FRAMES: tuple[type[Frame], ...] = (
    BotSpeakingFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserSpeakingFrame,
    UserStartedSpeakingFrame,
)


class Deadline:
    """A deadline ``timeout`` after the last :meth:`touch` (times are the caller's clock)."""

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.last = now

    def touch(self, now: float) -> None:
        """Something happened at ``now``: the deadline moves to ``now + timeout``."""
        self.last = now

    @property
    def due(self) -> float:
        """When the deadline expires unless touched before."""
        return self.last + self.timeout

    def expired(self, now: float) -> bool:
        """True once ``now`` has reached the deadline."""
        return now >= self.due


async def watch_deadline(deadline: Deadline, on_expired: Callable[[], Awaitable[bool]]) -> None:
    """Call ``on_expired`` each time ``deadline`` expires; it returns whether to keep
    watching (then the deadline restarts from that moment)."""
    while True:
        if not deadline.expired(trio.current_time()):
            await trio.sleep_until(deadline.due)
            continue
        if not await on_expired():
            return
        deadline.touch(trio.current_time())


def _now_ns() -> int:
    return int(trio.current_time() * 1e9)


class Heartbeats:
    """Sends heartbeat frames and reports when they stop coming back.

    Args:
        send: puts a frame into the pipeline (ahead of the task's ordered queue).
        on_timeout: called (synchronously) when no heartbeat came back for ``monitor_secs``.
        period_secs, monitor_secs: ``PipelineParams.heartbeats_*``.
    """

    def __init__(
        self,
        send: Callable[[Frame], Awaitable[None]],
        on_timeout: Callable[[], None],
        *,
        period_secs: float = HEARTBEAT_SECS,
        monitor_secs: float = HEARTBEAT_MONITOR_SECS,
    ) -> None:
        self._send = send
        self._on_timeout = on_timeout
        self._period = period_secs
        self._monitor_secs = monitor_secs
        self._deadline: Deadline | None = None
        #: seconds the last heartbeat took to cross the pipeline (None before the first).
        self.last_latency: float | None = None
        #: heartbeats sent and received, and timeouts reported.
        self.sent = 0
        self.received = 0
        self.timeouts = 0

    def frame_received(self, frame: HeartbeatFrame) -> None:
        """A heartbeat came out of the pipeline's end."""
        now = trio.current_time()
        self.received += 1
        self.last_latency = now - frame.timestamp / 1e9
        if self._deadline is not None:
            self._deadline.touch(now)

    async def run(self) -> None:
        """Send and monitor until cancelled."""
        self._deadline = Deadline(self._monitor_secs, trio.current_time())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_loop)
            await watch_deadline(self._deadline, self._expired)

    async def _send_loop(self) -> None:
        while True:
            self.sent += 1
            await self._send(HeartbeatFrame(timestamp=_now_ns()))
            await trio.sleep(self._period)

    async def _expired(self) -> bool:
        self.timeouts += 1
        logger.warning("heartbeat frame not received for more than %ss", self._monitor_secs)
        self._on_timeout()
        return True
