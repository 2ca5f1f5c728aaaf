"""Pool several ``trio-pipe bench`` runs into one table: every round of every run.

    python -m trio_pipe.cli.bench_pool OUT RUN1/results.json RUN2/results.json ...

One run's min–max shows the noise between that run's rounds, not between runs, and on a
shared machine whose speed drifts over an hour the second is the larger: a single run's
range is too narrow to predict the next run. Pooled, a comparison's median is the median
of every run's per-round ratios and its range spans all of those rounds, so the printed
spread covers both kinds of noise. ``OUT`` gets ``results.json``, ``results.md`` and
``results.png`` as ``trio-pipe bench`` writes them.

Comparisons are matched by benchmark and metric, as ``bench_compare`` matches them. One that a
run lacks, or that has no ratio in some run (``vad``), is pooled over the runs that have
a ratio; figures outside the table (``ws_clients``' own comparison with trio-websocket)
stay as the first run has them. The pooled document's ``_run.pooled`` lists the runs and
their load averages.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from trio_pipe.cli.bench import comparisons, markdown, table_rows, write_chart

__all__ = ["main", "pool"]


def _entries(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every comparison entry with per-round ratios, by (benchmark, metric)."""
    return {
        (name, metric): value
        for name, metric, value, _ in comparisons(document)
        if isinstance(value, dict) and "label" in value and "per_round" in value
    }


def _ratios(entry: dict[str, Any]) -> list[float]:
    if entry.get("median") is None:
        return []
    return [float(v) for v in entry.get("per_round") or [] if isinstance(v, int | float)]


def pool(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One document like the first, each comparison pooled over every run's rounds."""
    if not documents:
        raise ValueError("nothing to pool")
    pooled = copy.deepcopy(documents[0])
    others = [_entries(d) for d in documents[1:]]
    for key, entry in _entries(pooled).items():
        rounds = _ratios(entry)
        for found in others:
            if key in found:
                rounds += _ratios(found[key])
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
