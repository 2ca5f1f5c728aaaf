"""Does one ``trio-pipe bench`` run reproduce another? Row by row, within the spread.

    python -m trio_pipe.cli.bench_compare OLD/results.json NEW/results.json

For every comparison both runs publish (matched by benchmark and metric), the new run's
median is *inside* when it falls within the old run's min–max, and the two ranges
*overlap* when they share any value. A row only one run has is listed as such. The
verdict is a plain count; nothing here decides what "close enough" means beyond the
ranges each run printed itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import attrs

from trio_pipe.cli.bench import Row, table_rows

__all__ = ["Agreement", "agreement", "main", "markdown"]


@attrs.frozen
class Agreement:
    """One comparison in two runs."""

    key: tuple[str, str]  # (benchmark, metric)
    label: str
    old: Row | None
    new: Row | None

    @property
    def inside(self) -> bool | None:
        """The new median within the old min–max (None: not comparable)."""
        old, new = self.old, self.new
        if old is None or new is None or new.median is None or old.median is None:
            return None
        low, high = _range(old)
        return low <= new.median <= high

    @property
    def overlap(self) -> bool | None:
        """The two min–max ranges share a value (None: not comparable)."""
        old, new = self.old, self.new
        if old is None or new is None or new.median is None or old.median is None:
            return None
        (a, b), (c, d) = _range(old), _range(new)
        return a <= d and c <= b


def _range(row: Row) -> tuple[float, float]:
    median = float(row.median or 0.0)
    low = row.low if row.low is not None else median
    high = row.high if row.high is not None else median
    return float(low), float(high)


def agreement(old: dict[str, Any], new: dict[str, Any]) -> list[Agreement]:
    """Every comparison of either run, paired by (benchmark, metric), in the new run's order."""
    old_rows = {(r.benchmark, r.metric): r for r in table_rows(old)}
    new_rows = {(r.benchmark, r.metric): r for r in table_rows(new)}
    keys = list(dict.fromkeys([*new_rows, *old_rows]))
    return [
        Agreement(
            key,
            (new_rows.get(key) or old_rows[key]).label,
            old_rows.get(key),
            new_rows.get(key),
        )
        for key in keys
    ]


def _cell(row: Row | None) -> str:
    if row is None:
        return "—"
    if row.median is None:
        return "no ratio"
    low, high = _range(row)
    return f"{row.median:.2f} ({low:.2f}–{high:.2f})"


def markdown(rows: list[Agreement]) -> str:
    """A table of both runs' medians and ranges, and the counts."""
    both = [r for r in rows if r.inside is not None]
    inside = sum(1 for r in both if r.inside)
    overlap = sum(1 for r in both if r.overlap)
    lines = [
        f"{len(both)} comparisons in both runs: {inside} new medians inside the old range, "
        f"{overlap} ranges overlap, {len(both) - overlap} do not.",
        "",
        "| comparison | old run | new run | inside | overlap |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mark = {True: "yes", False: "**no**", None: "—"}
        lines.append(
            f"| {r.label} (`{r.key[0]}`) | {_cell(r.old)} | {_cell(r.new)} "
            f"| {mark[r.inside]} | {mark[r.overlap]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the agreement table of two ``results.json`` files."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    old = json.loads(args.old.read_text(encoding="utf-8"))
    new = json.loads(args.new.read_text(encoding="utf-8"))
    sys.stdout.write(markdown(agreement(old, new)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
