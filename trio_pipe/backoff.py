"""Capped exponential backoff with jitter, for anything that reconnects.

The Redis bus resubscribes with it and the WebSocket proxy client reconnects with it
(when asked to). Pure: no I/O, no clock; callers sleep for the delays it yields.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["reconnect_delays"]


def reconnect_delays(
    initial: float, maximum: float, *, rng: random.Random | None = None
) -> Iterator[float]:
    """Capped exponential backoff: ``initial``, doubling, never above ``maximum``.

    Each delay is scaled by a random factor in [0.75, 1.0] so that processes that lost
    the same server do not all come back in the same instant.
    """
    uniform = (rng or random).uniform
    delay = initial
    while True:
        yield delay * uniform(0.75, 1.0)
        delay = min(delay * 2, maximum)
