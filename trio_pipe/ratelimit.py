"""When to log a repeated problem: the first few times, then one time in many.

A peer that floods bad input, or an event source that overflows its queue, must not
flood the log as well; the counter itself always counts every case.
"""

from __future__ import annotations

__all__ = ["LOUD_EVERY", "LOUD_FIRST", "loud"]

LOUD_FIRST = 10
"""The first this many occurrences are logged."""
LOUD_EVERY = 1000
"""After those, one occurrence in this many is logged."""


def loud(count: int, *, first: int = LOUD_FIRST, every: int = LOUD_EVERY) -> bool:
    """Whether the ``count``-th occurrence (counting from 1) should be logged."""
    return count <= first or count % every == 0
