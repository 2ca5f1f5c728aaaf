"""Snapshots of a bus's queues, in the shape of ``trio.MemoryChannel.statistics()``.

A bus's queues are deques (see :mod:`trio_pipe.bus.bus` for why), so Trio's channel
statistics are not there to ask; these frozen records give the same kind of answer: how
much waits (``backlog``), the bound if there is one, and what was refused (``dropped``).
The counters they are read from stay readable under their old attribute names
(``bus.handler_errors``, ``redis_bus.publish_dropped``, ...).
"""

from __future__ import annotations

import attrs

__all__ = ["BusStatistics", "RedisBusStatistics", "SubscriberStatistics"]


@attrs.frozen
class SubscriberStatistics:
    """One subscriber's undelivered messages, per lane."""

    name: str
    system_backlog: int
    data_backlog: int

    @property
    def backlog(self) -> int:
        """Messages queued for this subscriber and not yet handed to it."""
        return self.system_backlog + self.data_backlog


@attrs.frozen
class BusStatistics:
    """A :class:`~trio_pipe.bus.bus.WorkerBus` at one moment.

    The lanes are unbounded (a bus never drops a message for a subscriber), so there is no
    ``max_backlog`` and no drop count here; ``backlog_warning`` is the level that logs.
    """

    subscribers: tuple[SubscriberStatistics, ...]
    backlog_warning: int
    handler_errors: int

    @property
    def backlog(self) -> int:
        """Messages queued for all subscribers together."""
        return sum(s.backlog for s in self.subscribers)

    @property
    def largest_backlog(self) -> int:
        """The longest queue of one subscriber (0 without subscribers)."""
        return max((s.backlog for s in self.subscribers), default=0)


@attrs.frozen
class RedisBusStatistics(BusStatistics):
    """A :class:`~trio_pipe.bus.redis.RedisBus` at one moment: the local lanes plus the
    publish queue, which is bounded (``max_publish_backlog``) and drops past its bound."""

    publish_backlog: int
    max_publish_backlog: int
    publish_dropped: int
    published: int
    received: int
    decode_errors: int
    publish_errors: int
    disconnects: int
    resubscriptions: int
