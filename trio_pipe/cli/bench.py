"""Run the benchmark suite against Pipecat 1.14 (needs a source checkout: benchmarks/).

Each script in the source checkout's ``benchmarks/`` folder runs one workload on trio_pipe
and, when ``PIPECAT_PYTHON`` names a Python with pipecat-ai 1.14 (``bash scripts/test``
makes one in ``.venv-pipecat``), the same workload on Pipecat, and prints JSON with the
ratios measured in that one run. ``trio-pipe bench`` runs them one after the other and
writes to ``--out``:

* ``results.json``: every script's JSON document (and, under ``_run``, the load average
  at start and end and each script's time);
* ``results.md``: one row per comparison, grouped by area: how many times better
  trio_pipe did (the median of the per-round ratios, with their min–max), or why there
  is no ratio;
* ``results.png``: the same as a bar chart, if matplotlib is installed
  (``pip install trio-pipe[bench]``).

Interrupted (Ctrl-C), it still writes what the finished scripts measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trio_pipe.cli import CommandError

# Small workloads for --quick: a smoke run of the whole suite in a minute or two.
QUICK_ARGS: dict[str, list[str]] = {
    "bus_throughput": ["--messages", "20000", "--latency-samples", "500", "--rounds", "1"],
    "serializer": ["--quick"],
    "frame_serializer": ["--ops", "2000", "--repeat", "2", "--rounds", "1"],
    "jobs_inprocess": [
        *("--sequential", "500", "--throughput", "2000"),
        *("--jobs", "2000", "--pipecat-jobs", "2000", "--rounds", "1"),
    ],
    "pipeline_throughput": ["--frames", "5000", "--samples", "10", "--rounds", "1"],
    "pacing": ["--seconds", "5", "--rounds", "1"],
    "redis_bus": ["--messages", "2000", "--rounds", "1"],
    "voice_turns": ["--quick", "--rounds", "1"],
}

# The full run's arguments where a script's own defaults are not what the published table
# needs: more rounds where three rounds of a noisy figure did not reproduce from one run to
# the next (the scripts keep their defaults for running alone). A full run takes about 25
# minutes on a 2-core machine (docs/benchmarks.md).
FULL_ARGS: dict[str, list[str]] = {
    "jobs_inprocess": ["--rounds", "5"],  # its early-p50 row reads 250 jobs per round
    "proxy_rtt": ["--rounds", "5"],
}

# Metrics where smaller is better: their speed-up is theirs / ours.
_LOWER_IS_BETTER = ("p50", "p99", "latency", "error", "max", "rtt", "drift", "rss", "_us", "time")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``trio-pipe bench``."""
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke run)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument(
        "--benchmarks", type=Path, default=None, help="the benchmarks/ folder (default: found)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")


@dataclass(frozen=True)
class Row:
    """One published comparison: how many times better trio_pipe did than Pipecat 1.14
    (higher is better), the median of the per-round ratios with their min and max; or,
    when there is no ratio (``median`` None), ``why``."""

    area: str
    benchmark: str
    metric: str
    label: str
    median: float | None
    low: float | None = None
    high: float | None = None
    rounds: int | None = None
    why: str = ""


def run(args: argparse.Namespace) -> int:
    """Run the suite; exit 1 if any benchmark failed, 130 if interrupted (Ctrl-C).

    ``results.json`` is rewritten after every benchmark, and the table and chart are
    written on the way out, also when interrupted: a run keeps what it finished.
    """
    folder = args.benchmarks or _find_benchmarks()
    names = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise CommandError(
                f"no such benchmark: {', '.join(unknown)} (have: {', '.join(names)})"
            )
        names = [n for n in names if n in args.only]
    env = dict(os.environ)
    env.setdefault("PIPECAT_PYTHON", _default_pipecat(folder.parent) or "")
    if not env["PIPECAT_PYTHON"]:
        del env["PIPECAT_PYTHON"]
        print("note: PIPECAT_PYTHON is not set; Pipecat's side is not measured", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {"quick": args.quick, "loadavg_start": _loadavg(), "timings": {}}
    failed: list[str] = []
    interrupted = False
    try:
        for name in names:
            document = _run_one(folder, name, args, env, meta)
            if document is None:
                failed.append(name)
                continue
            results[name] = document
            _write_json(args.out, results, meta)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: keeping the results finished so far", file=sys.stderr)
    meta["loadavg_end"] = _loadavg()
    meta["interrupted"] = interrupted
    _write_json(args.out, results, meta)
    rows = table_rows(results)
    table = markdown(rows, quick=args.quick, meta=meta)
    (args.out / "results.md").write_text(table)
    chart = write_chart(rows, args.out / "results.png", quick=args.quick)
    print(table)
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}"
        + (f", {chart}" if chart else "")
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if failed else 0


def _run_one(
    folder: Path, name: str, args: argparse.Namespace, env: dict[str, str], meta: dict[str, Any]
) -> dict[str, Any] | None:
    """Run one script; its JSON document, or None (reported) when it failed."""
    extra = arguments(name, quick=args.quick, has_quick=_has_quick(folder, name))
    print(f"[bench] {name} ...", end=" ", flush=True, file=sys.stderr)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *extra],
            cwd=folder.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"timed out after {args.timeout:g} s", file=sys.stderr)
        return None
    took = time.monotonic() - started
    document = _parse(proc.stdout)
    if proc.returncode != 0 or document is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"failed ({tail[0]})", file=sys.stderr)
        return None
    print(f"done in {took:.0f} s", file=sys.stderr)
    meta["timings"][name] = {"seconds": round(took, 1), "loadavg_after": _loadavg()}
    return document


def arguments(name: str, *, quick: bool, has_quick: bool) -> list[str]:
    """The command-line arguments ``trio-pipe bench`` gives benchmark ``name``."""
    if not quick:
        return list(FULL_ARGS.get(name, []))
    return list(QUICK_ARGS.get(name, ["--quick"] if has_quick else []))


def _write_json(out: Path, results: dict[str, Any], meta: dict[str, Any]) -> None:
    document = {"_run": meta, **results}
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return []


def comparisons(results: dict[str, Any]) -> Iterator[tuple[str, str, Any, bool]]:
    """Every comparison in ``results`` as (benchmark, metric, value, oriented), in order;
    keys starting with ``_`` are not benchmarks. ``value`` is the document's own object
    (a ``speedup`` entry is a dict), ``oriented`` is True under ``speedup``."""
    for name, document in results.items():
        if name.startswith("_") or not isinstance(document, dict):
            continue
        for metric, value, oriented in _ratios(document):
            yield name, metric, value, oriented


def table_rows(results: dict[str, Any]) -> list[Row]:
    """Every comparison in ``results`` (keys starting with ``_`` are not benchmarks),
    grouped by area.

    A script's ``speedup`` entries (``benchmarks/_harness.py``: label, median, min, max,
    rounds) are read as they are. A bare number under ``speedup`` is already oriented; one
    under ``ratio``/``ratio_*`` is ours / Pipecat's, inverted for a time (``p50``,
    ``latency``...): such single figures show no spread.
    """
    rows = []
    for name, metric, value, oriented in comparisons(results):
        area = str(results[name].get("area") or name)
        if isinstance(value, dict):
            if "label" not in value or "median" not in value:
                continue
            rows.append(
                Row(
                    area,
                    name,
                    metric,
                    str(value["label"]),
                    value["median"],
                    value.get("min"),
                    value.get("max"),
                    value.get("rounds"),
                    str(value.get("why", "")),
                )
            )
            continue
        if not isinstance(value, int | float) or value <= 0:
            continue
        lower_better = not oriented and any(word in metric for word in _LOWER_IS_BETTER)
        speedup = 1 / value if lower_better else float(value)
        rows.append(Row(area, name, metric, metric, round(speedup, 2)))
    order = {area: i for i, area in enumerate(dict.fromkeys(r.area for r in rows))}
    return sorted(rows, key=lambda r: order[r.area])


def reading(row: Row) -> str:
    """The comparison in words: "3.10x better", "about even", "1.20x worse"."""
    if row.median is None:
        return "no ratio"
    if 0.97 <= row.median <= 1.03:
        return "about even"
    if row.median > 1:
        return f"{row.median:.2f}x better"
    return f"{1 / row.median:.2f}x worse"


def markdown(rows: list[Row], *, quick: bool = False, meta: dict[str, Any] | None = None) -> str:
    """The results table, trio_pipe against Pipecat 1.14, grouped by area."""
    lines = ["# trio_pipe against Pipecat 1.14" + (" (quick run)" if quick else ""), ""]
    if meta:
        lines += [_describe_run(meta), ""]
    lines += [
        "| area | figure | trio_pipe against Pipecat (median) | min–max over rounds | rounds |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for row in rows:
        if row.median is None:
            spread = row.why or "a side had no figure"
        elif row.low is None or row.high is None:
            spread = "single figure"
        else:
            spread = f"{row.low:.2f}–{row.high:.2f}"
        rounds = "" if row.rounds is None else str(row.rounds)
        lines.append(f"| {row.area} | {row.label} | {reading(row)} | {spread} | {rounds} |")
    if not rows:
        lines.append("| (no comparisons: Pipecat was not measured) | | | | |")
    return "\n".join(lines) + "\n"


def _describe_run(meta: dict[str, Any]) -> str:
    if meta.get("pooled"):  # trio_pipe.cli.bench_pool
        runs = meta["pooled"]
        loads = "; ".join(
            f"{_triple(r['loadavg_start'])} to {_triple(r['loadavg_end'])}"
            for r in runs
            if r.get("loadavg_start") and r.get("loadavg_end")
        )
        text = (
            f"Pooled from {len(runs)} full runs: each median is over every round of every "
            "run, and each range spans them all"
        )
        return text + (f" (load averages {loads})." if loads else ".")
    parts = []
    if meta.get("loadavg_start"):
        parts.append(f"load average (1/5/15 min) at start {_triple(meta['loadavg_start'])}")
    if meta.get("loadavg_end"):
        parts.append(f"at end {_triple(meta['loadavg_end'])}")
    text = ", ".join(parts)
    if meta.get("interrupted"):
        text += "; interrupted: only the benchmarks that finished are shown"
    return (text + ".") if text else ""


def _triple(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _ratios(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, bool]]:
    found = []
    for key, value in document.items():
        oriented = key == "speedup"
        if oriented or key == "ratio" or key.startswith("ratio_"):
            if isinstance(value, dict):
                found += [(f"{prefix}{k}", v, oriented) for k, v in _entries(value)]
            else:
                found.append((f"{prefix}{key}", value, oriented))
        elif isinstance(value, dict):
            found += _ratios(value, f"{prefix}{key}.")
    return found


def _entries(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of a ratio map; a ``speedup`` entry (it has a label) is one leaf."""
    items = []
    for key, inner in value.items():
        if isinstance(inner, dict) and "label" not in inner:
            items += _entries(inner, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", inner))
    return items


def write_chart(rows: list[Row], path: Path, *, quick: bool = False) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "note: matplotlib is not installed; no chart (pip install trio-pipe[bench])",
            file=sys.stderr,
        )
        return None
    if not rows:
        return None
    layout = chart_layout(rows)
    fig, ax = plt.subplots(figsize=(13, 0.3 * len(layout) + 1.8))
    measured = [r.median for r in rows if r.median is not None]
    low = min([*measured, *(r.low for r in rows if r.low), 1.0]) / 1.6
    high = max([*measured, *(r.high for r in rows if r.high), 1.0]) * 1.8
    labels = []
    for y, item in enumerate(layout):
        if isinstance(item, str):  # an area's heading
            labels.append(item)
            continue
        labels.append(item.label)
        if item.median is None:
            why = item.why if len(item.why) <= 70 else item.why[:69] + "…"
            # From the left edge (axes x, data y): a long reason stays inside the chart.
            ax.text(
                0.01,
                y,
                f"no ratio: {why}",
                va="center",
                fontsize=8,
                color="#666",
                transform=ax.get_yaxis_transform(),
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
            continue
        color = "#2a7" if item.median >= 1 else "#c54"
        ax.barh(y, item.median - 1, left=1, color=color, height=0.7)
        if item.low is not None and item.high is not None and item.rounds and item.rounds > 1:
            ax.plot([item.low, item.high], [y, y], color="#222", linewidth=1)
        x = max(item.median, item.high or item.median, 1.0)
        ax.text(x * 1.04, y, f"{item.median:.2f}x", va="center", fontsize=8)
    ax.set_yticks(range(len(layout)), labels, fontsize=8)
    for tick, item in zip(ax.get_yticklabels(), layout, strict=True):
        if isinstance(item, str):
            tick.set_fontweight("bold")
            tick.set_fontsize(9)
    ax.axvline(1.0, color="#333", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256) if low <= t <= high]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("times better than Pipecat 1.14 (log scale; 1x = the same; right is better)")
    ax.set_title(
        "trio_pipe against Pipecat 1.14: the same workload on the same machine"
        + (" (quick run)" if quick else "")
        + "\nbar: median of the per-round ratios; line: their min–max; no bar: no ratio",
        fontsize=10,
    )
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def chart_layout(rows: list[Row]) -> list[str | Row]:
    """The chart's lines, top to bottom: each area's name, then its rows."""
    layout: list[str | Row] = []
    for row in rows:
        if not layout or _area_of(layout) != row.area:
            layout.append(row.area)
        layout.append(row)
    return layout


def _area_of(layout: list[str | Row]) -> str:
    last = layout[-1]
    return last if isinstance(last, str) else last.area


def _parse(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError:
        return None


def _has_quick(folder: Path, name: str) -> bool:
    return "--quick" in (folder / f"{name}.py").read_text(encoding="utf-8")


def _find_benchmarks() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "benchmarks"
        if (candidate / "_harness.py").exists():
            return candidate
    raise CommandError(
        "benchmarks/ not found: run from a trio_pipe source checkout or pass --benchmarks"
    )


def _default_pipecat(root: Path) -> str | None:
    candidate = root / ".venv-pipecat" / "bin" / "python"
    return str(candidate) if candidate.exists() else None
