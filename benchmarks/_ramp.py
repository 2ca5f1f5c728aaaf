"""The search for the largest load a server keeps up with (pure logic, no I/O).

The session benchmarks ask one yes/no question per run: did the server keep up with N
sessions? A fixed ramp (10, 20, 40, 60, ...) answers "somewhere between 40 and 60", and
a run that lands one step higher or lower moves a ratio by a third. :func:`find_capacity`
instead climbs by ``step`` until a run does not keep up, then halves the gap between the
last N kept up with and the first not kept up with until it is at most ``resolution``.

Rounds after the first may start at the previous round's answer with a step of
``resolution`` (:func:`next_search`): the same resolution in two or three runs instead of
five or six, which pays for more rounds. ``first`` names loads probed before the search
whatever its start (a fixed N at which both sides' CPU is compared, say); their outcomes
count in the search like any other run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Search:
    """Where a search starts, how it climbs, where it stops."""

    start: int
    step: int
    resolution: int
    limit: int


def find_capacity(
    keeps_up: Callable[[int], bool], search: Search, first: Sequence[int] = ()
) -> int:
    """The largest N that kept up (0 if none), to within ``search.resolution``.

    ``keeps_up(n)`` runs the load ``n`` once; no N is run twice and none above
    ``search.limit`` (kept up at the limit: the limit is the answer, a lower bound).
    """
    lo, hi = 0, None  # the largest N kept up with; the smallest N not kept up with
    step, resolution = max(1, search.step), max(1, search.resolution)

    def probe(n: int) -> None:
        nonlocal lo, hi
        if keeps_up(n):
            lo = max(lo, n)
        else:
            hi = n if hi is None else min(hi, n)

    def open_bracket(n: int) -> bool:
        return lo < n <= search.limit and (hi is None or n < hi)

    for n in (*first, search.start):
        if n > 0 and open_bracket(n):
            probe(n)
    while hi is None:  # everything kept up so far: climb
        if lo >= search.limit:
            return lo
        probe(min(lo + step, search.limit) if lo else min(step, search.limit))
    while hi - lo > max(step, resolution) and hi - step > lo:  # walk down from a failure
        probe(hi - step)
    while hi - lo > resolution:  # halve the bracket, on multiples of the resolution
        probe(lo + max(resolution, (hi - lo) // (2 * resolution) * resolution))
    return lo


def next_search(first_round: Search, previous: int) -> Search:
    """The search of a later round: from the previous round's answer, in steps of the
    resolution (or the first round's search again when nothing kept up)."""
    if previous <= 0:
        return first_round
    return Search(
        start=previous,
        step=first_round.resolution,
        resolution=first_round.resolution,
        limit=first_round.limit,
    )
