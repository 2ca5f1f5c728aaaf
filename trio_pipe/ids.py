"""Process-wide identifiers shared by frames and bus messages.

Pipecat gives every frame and every bus message an ``id`` from one process-wide counter
and a ``name`` of the form ``"<ClassName>#<k>"`` with a per-class counter. Both counters
live here so that frames and messages draw from the same sequence, as in Pipecat.

``itertools.count`` is used because ``next()`` on it is atomic under the GIL and cheap:
these run on every message on the hot path.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

_ids = itertools.count()
_per_class: defaultdict[type, itertools.count[int]] = defaultdict(itertools.count)


def next_id() -> int:
    """Return the next process-wide object id."""
    return next(_ids)


def next_name(cls: type) -> str:
    """Return ``"<ClassName>#<k>"`` with ``k`` counting instances of ``cls`` from 0."""
    return f"{cls.__name__}#{next(_per_class[cls])}"
