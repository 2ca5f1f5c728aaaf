"""Shared plumbing for the benchmark scripts: the Pipecat side, statistics, JSON output.

Each benchmark runs one workload on trio_pipe in this process and the same workload on
Pipecat 1.14 in a subprocess (the interpreter named by ``PIPECAT_PYTHON``), alternating
rounds so that machine noise hits both alike, and prints one JSON document with the
figures and the comparisons measured in that one run.

A comparison (:func:`compare`) is published under the document's ``speedup`` key, one
entry per figure: how many times better trio_pipe did than Pipecat (higher is better,
whichever way the figure itself goes), as the median of the per-round ratios (round *i*
of ours against round *i* of Pipecat's, run one after the other) with their min and
max. ``trio-pipe bench`` reads these entries (see :data:`SPEEDUP_FIELDS`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Rounds every published comparison needs at least (``--quick`` may run fewer).
MIN_ROUNDS = 3

#: The fields of a ``speedup`` entry that ``trio-pipe bench`` reads.
SPEEDUP_FIELDS = ("label", "median", "min", "max", "rounds")


def pipecat_python() -> str | None:
    """The interpreter that has pipecat-ai 1.14 installed, if configured."""
    path = os.environ.get("PIPECAT_PYTHON")
    if path:
        return path
    here = os.path.join(os.path.dirname(__file__), "..", ".venv-pipecat", "bin", "python")
    return os.path.abspath(here) if os.path.exists(here) else None


def run_pipecat(script: str, args: Sequence[str] = (), timeout: float = 300) -> dict[str, Any]:
    """Run ``script`` (Python source) under Pipecat's interpreter; it prints one JSON object."""
    python = pipecat_python()
    if python is None:
        raise RuntimeError("PIPECAT_PYTHON is not set")
    env = dict(os.environ, LOGURU_LEVEL="ERROR")
    proc = subprocess.run(
        [python, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Pipecat side failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def percentiles(samples: Sequence[float], scale: float = 1e6) -> dict[str, float]:
    """p50/p99/max of ``samples`` (seconds), scaled (default: microseconds)."""
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale, 2)

    return {"p50": at(0.50), "p99": at(0.99), "max": round(ordered[-1] * scale, 2)}


def alternate(
    ours: Callable[[], dict[str, Any]],
    theirs: Callable[[], dict[str, Any]] | None,
    rounds: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run both workloads ``rounds`` times, alternating, and return all results."""
    mine: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    for _ in range(rounds):
        mine.append(ours())
        if theirs is not None:
            other.append(theirs())
    return mine, other


def best(results: list[dict[str, Any]], key: str, higher_is_better: bool = True) -> Any:
    """The best value of ``key`` over rounds (the least disturbed run)."""
    values = [r[key] for r in results if key in r]
    if not values:
        return None
    if isinstance(values[0], dict):  # percentile dicts: pick the round with the best p50
        return min(values, key=lambda v: v.get("p50", float("inf")))
    return max(values) if higher_is_better else min(values)


def median(values: Sequence[float]) -> float:
    """Median, rounded for printing."""
    return round(statistics.median(values), 2)


@dataclass(frozen=True)
class Metric:
    """One compared figure: its human name, how to read it from one round's result (None
    when that round has none), and whether more of it is better."""

    label: str
    read: Callable[[dict[str, Any]], float | None]
    higher_is_better: bool = True


def field(name: str) -> Callable[[dict[str, Any]], float | None]:
    """Reads ``result[name]``."""
    return lambda result: result.get(name)


def percentile_of(name: str, which: str = "p50", first: int | None = None) -> Callable:
    """Reads a percentile (``p50``/``p99``/``max``) of the samples in ``result[name]``
    (seconds), optionally of the first ``first`` of them only."""

    def read(result: dict[str, Any]) -> float | None:
        samples = result.get(name)
        if not samples:
            return None
        return percentiles(samples[:first] if first else samples).get(which)

    return read


def round_speedups(
    mine: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], metric: Metric
) -> list[float | None]:
    """Per round, how many times better ours did (None where a side has no figure)."""
    found: list[float | None] = []
    for a, b in zip(mine, other, strict=False):
        ours, theirs = metric.read(a), metric.read(b)
        if not ours or not theirs:
            found.append(None)
        else:
            found.append(ours / theirs if metric.higher_is_better else theirs / ours)
    return found


def speedup_entry(label: str, per_round: Sequence[float | None], why: str = "") -> dict[str, Any]:
    """A ``speedup`` entry: median of the per-round values with min and max, or (when a
    round had no ratio) ``median`` None and ``why``."""
    entry: dict[str, Any] = {"label": label, "rounds": len(per_round)}
    values = [v for v in per_round if v is not None]
    entry["per_round"] = [None if v is None else round(v, 3) for v in per_round]
    if values and len(values) == len(per_round):
        entry.update(
            median=round(statistics.median(values), 2),
            min=round(min(values), 2),
            max=round(max(values), 2),
        )
    else:
        entry.update(median=None, min=None, max=None, why=why or "a side had no figure")
    return entry


def no_ratio(label: str, rounds: int, why: str) -> dict[str, Any]:
    """A ``speedup`` entry that publishes no ratio on purpose (the two sides do different
    work, say): ``trio-pipe bench`` shows the row with ``why`` instead of a figure."""
    if not why:
        raise ValueError("a row without a ratio needs its reason")
    return speedup_entry(label, [None] * max(1, rounds), why=why)


def compare(
    mine: Sequence[dict[str, Any]],
    other: Sequence[dict[str, Any]],
    metrics: dict[str, Metric],
) -> dict[str, dict[str, Any]]:
    """The document's ``speedup`` entries: each metric's per-round ratios, summarised."""
    return {
        name: speedup_entry(metric.label, round_speedups(mine, other, metric))
        for name, metric in metrics.items()
    }


def median_of(results: Sequence[dict[str, Any]], read: Callable) -> float | None:
    """The median over rounds of one figure (for the per-side summaries)."""
    values = [v for v in map(read, results) if v is not None]
    return round(statistics.median(values), 2) if values else None


def emit(document: dict[str, Any]) -> None:
    """Print the benchmark's JSON document."""
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


async def timed_round_trips(
    one: Callable[[int], Awaitable[Any]], count: int, warmup: int
) -> list[float]:
    """Await ``one(i)`` ``warmup`` times untimed, then ``count`` times; each duration (s)."""
    for i in range(warmup):
        await one(i)
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        await one(i)
        samples.append(time.perf_counter() - t0)
    return samples


async def saturate(one: Callable[[int], Awaitable[Any]], count: int, outstanding: int) -> None:
    """Await ``one(i)`` ``count`` times with ``outstanding`` calls in flight at once."""
    import trio  # only the trio_pipe side runs this; the Pipecat side never imports it

    remaining = count

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(remaining)

    async with trio.open_nursery() as clients:
        for _ in range(outstanding):
            clients.start_soon(client)
