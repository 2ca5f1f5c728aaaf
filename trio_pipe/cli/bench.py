"""Run the benchmark suite against Pipecat 1.14 and write a table and a chart.

Each script in the source checkout's ``benchmarks/`` folder runs one workload on trio_pipe
and, when ``PIPECAT_PYTHON`` names a Python with pipecat-ai 1.14 (``bash scripts/test``
makes one in ``.venv-pipecat``), the same workload on Pipecat, and prints JSON with the
ratios measured in that one run. ``trio-pipe bench`` runs them one after the other and
writes to ``--out``:

* ``results.json``: every script's JSON document;
* ``results.md``: one row per ratio, with a plain reading ("3.1x faster");
* ``results.png``: a bar chart of the speed-ups, if matplotlib is installed
  (``pip install trio-pipe[bench]``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trio_pipe.cli import CommandError

# Small workloads for --quick: a smoke run of the whole suite in a minute or two.
QUICK_ARGS: dict[str, list[str]] = {
    "bus_throughput": ["--messages", "20000", "--latency-samples", "500", "--rounds", "1"],
    "serializer": ["--quick"],
    "frame_serializer": ["--ops", "2000", "--rounds", "1"],
    "jobs_inprocess": [
        *("--sequential", "500", "--throughput", "2000"),
        *("--jobs", "2000", "--pipecat-jobs", "2000", "--rounds", "1"),
    ],
    "pipeline_throughput": ["--frames", "5000", "--samples", "10", "--rounds", "1"],
    "pacing": ["--seconds", "5"],
    "redis_bus": ["--messages", "2000", "--rounds", "1"],
    "voice_turns": ["--quick"],
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


def run(args: argparse.Namespace) -> int:
    """Run the suite; exit 1 if any benchmark failed."""
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

    results: dict[str, Any] = {}
    failed = []
    for name in names:
        extra = QUICK_ARGS.get(name, ["--quick"] if _has_quick(folder, name) else [])
        print(f"[bench] {name} ...", end=" ", flush=True, file=sys.stderr)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}", *(extra if args.quick else [])],
                cwd=folder.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print(f"timed out after {args.timeout:g} s", file=sys.stderr)
            failed.append(name)
            continue
        took = time.monotonic() - started
        document = _parse(proc.stdout)
        if proc.returncode != 0 or document is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"failed ({tail[0]})", file=sys.stderr)
            failed.append(name)
            continue
        print(f"done in {took:.0f} s", file=sys.stderr)
        results[name] = document

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = table_rows(results)
    (args.out / "results.md").write_text(markdown(rows, quick=args.quick))
    chart = _chart(rows, args.out / "results.png")
    print(markdown(rows, quick=args.quick))
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}"
        + (f", {chart}" if chart else "")
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """``(benchmark, metric, printed ratio, speed-up)`` for every ratio in ``results``.

    A ``ratio`` is ours / Pipecat's: for a rate, more is better; for a time (``p50``,
    ``latency``...), less is, so its speed-up is the inverse. A ``speedup`` is already
    oriented (more is better).
    """
    rows = []
    for name, document in results.items():
        for metric, value, oriented in _ratios(document):
            if not isinstance(value, int | float) or value <= 0:
                continue
            lower_better = not oriented and any(word in metric for word in _LOWER_IS_BETTER)
            rows.append((name, metric, float(value), 1 / value if lower_better else float(value)))
    return rows


def markdown(rows: list[tuple[str, str, float, float]], *, quick: bool = False) -> str:
    """The results table, trio_pipe against Pipecat 1.14."""
    lines = [
        "# trio_pipe against Pipecat 1.14" + (" (quick run)" if quick else ""),
        "",
        "| benchmark | metric | ratio as printed | trio_pipe against Pipecat |",
        "| --- | --- | ---: | --- |",
    ]
    for name, metric, value, speedup in rows:
        if 0.97 <= speedup <= 1.03:
            reading = "about even"
        elif speedup > 1:
            reading = f"{speedup:.2f}x better"
        else:
            reading = f"{1 / speedup:.2f}x worse"
        lines.append(f"| {name} | {metric} | {value:.2f} | {reading} |")
    if not rows:
        lines.append("| (no ratios: Pipecat was not measured) | | | |")
    return "\n".join(lines) + "\n"


def _ratios(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, bool]]:
    found = []
    for key, value in document.items():
        oriented = key == "speedup"
        if oriented or key == "ratio" or key.startswith("ratio_"):
            if isinstance(value, dict):
                found += [(f"{prefix}{k}", v, oriented) for k, v in _flatten(value)]
            else:
                found.append((f"{prefix}{key}", value, oriented))
        elif isinstance(value, dict):
            found += _ratios(value, f"{prefix}{key}.")
    return found


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, inner in value.items():
        if isinstance(inner, dict):
            items += _flatten(inner, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", inner))
    return items


def _chart(rows: list[tuple[str, str, float, float]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("note: matplotlib is not installed; no chart (pip install trio-pipe[bench])")
        return None
    if not rows:
        return None
    labels = [f"{name}: {metric}" for name, metric, _, _ in rows]
    speedups = [speedup for *_, speedup in rows]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    colors = ["#2a7" if s >= 1 else "#c54" for s in speedups]
    ax.barh(labels, speedups, color=colors)
    ax.axvline(1.0, color="#333", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("times better than Pipecat 1.14 (log scale; 1 = same)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
