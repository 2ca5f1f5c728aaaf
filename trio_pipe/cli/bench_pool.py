"""Pool several ``trio-pipe bench`` runs into one table: every round of every run.

    python -m trio_pipe.cli.bench_pool OUT RUN1/results.json RUN2/results.json ...

One run's min–max shows the noise between that run's rounds, not between runs, and on a
shared machine whose speed drifts over an hour the second is the larger: a single run's
range is too narrow to predict the next run. Pooled, a comparison's median is the median
of every run's per-round ratios and its range spans all of those rounds, so the printed
spread covers both kinds of noise. ``OUT`` gets ``results.json``, ``results.md`` and
``results.png`` as ``trio-pipe bench`` writes them.

Comparisons are matched by their place in the documents (benchmark, metric). One that a
run lacks, or that has no ratio in some run (``vad``), is pooled over the runs that have
a ratio; the pooled document's ``_run.pooled`` lists the runs and their load averages.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trio_pipe.cli.bench import markdown, table_rows, write_chart

__all__ = ["main", "pool"]

Path_ = tuple[str, ...]


def _entries(document: Any, path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Every comparison entry (a dict with ``label`` and ``per_round``) and where it is."""
    if not isinstance(document, dict):
        return
    if "label" in document and "per_round" in document:
        yield path, document
        return
    for key, value in document.items():
        if not path and key.startswith("_"):
            continue  # run metadata, not a benchmark
        yield from _entries(value, (*path, key))


def _ratios(entry: dict[str, Any]) -> list[float]:
    if entry.get("median") is None:
        return []
    return [float(v) for v in entry.get("per_round") or [] if isinstance(v, int | float)]


def pool(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One document like the first, each comparison pooled over every run's rounds."""
    if not documents:
        raise ValueError("nothing to pool")
    pooled = copy.deepcopy(documents[0])
    others = [dict(_entries(d)) for d in documents[1:]]
    for path, entry in _entries(pooled):
        rounds = _ratios(entry)
        for found in others:
            if path in found:
                rounds += _ratios(found[path])
        if not rounds:
            continue  # no run had a ratio here: kept as the first run states it
        entry["per_round"] = rounds
        entry["rounds"] = len(rounds)
        entry["median"] = round(statistics.median(rounds), 2)
        entry["min"] = round(min(rounds), 2)
        entry["max"] = round(max(rounds), 2)
        entry.pop("why", None)  # a reason for "no ratio" no longer applies
    runs = [d.get("_run", {}) for d in documents]
    pooled["_run"] = {
        "quick": any(r.get("quick") for r in runs),
        "pooled": [
            {k: r.get(k) for k in ("loadavg_start", "loadavg_end", "interrupted")} for r in runs
        ],
    }
    return pooled


def main(argv: list[str] | None = None) -> int:
    """Write the pooled ``results.json``, ``results.md`` and ``results.png`` to OUT."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the pooled results")
    parser.add_argument("runs", type=Path, nargs="+", help="results.json of each run")
    args = parser.parse_args(argv)
    documents = [json.loads(p.read_text(encoding="utf-8")) for p in args.runs]
    pooled = pool(documents)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(pooled, indent=2) + "\n")
    rows = table_rows(pooled)
    table = markdown(rows, quick=pooled["_run"]["quick"], meta=pooled["_run"])
    (args.out / "results.md").write_text(table)
    write_chart(rows, args.out / "results.png", quick=pooled["_run"]["quick"])
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
