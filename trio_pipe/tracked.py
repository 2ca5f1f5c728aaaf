"""Where objects with counters announce themselves to the active metrics collector.

Kept apart from :mod:`trio_pipe.metrics` (which imports prometheus-client) so that the
transports, serializers, buses and proxies can call :func:`track` at no import cost;
it does nothing unless a :class:`trio_pipe.metrics.Metrics` is active.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Tracker", "set_tracker", "track"]


class Tracker(Protocol):
    """What :func:`track` hands objects to (the active Metrics)."""

    def track(self, obj: object, kind: str) -> None:
        """Read ``obj``'s counters when scraped; ``kind`` says which."""


_tracker: Tracker | None = None


def set_tracker(tracker: Tracker | None) -> None:
    """Make ``tracker`` the one :func:`track` reports to (None: nobody)."""
    global _tracker
    _tracker = tracker


def track(obj: object, kind: str) -> None:
    """Announce ``obj`` (``kind``: ``"input_transport"``, ``"output_transport"``,
    ``"serializer"``, ``"redis_bus"``, ``"proxy"``) to the active tracker, if any."""
    if _tracker is not None:
        _tracker.track(obj, kind)
