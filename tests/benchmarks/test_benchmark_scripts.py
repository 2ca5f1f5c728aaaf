"""Every benchmark script runs, at its smallest size, against Pipecat 1.14, and prints the
fields ``trio-pipe bench`` reads, so that no script can rot unnoticed.

Sizes here are far too small to mean anything: these tests check that the scripts work
and what they print, never how fast anything is (that is what ``trio-pipe bench`` is for).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from required_services import ROOT, pipecat_interpreter

from benchmarks._harness import SPEEDUP_FIELDS
from trio_pipe.cli.bench import FULL_ARGS, QUICK_ARGS, arguments, markdown, table_rows

BENCHMARKS = ROOT / "benchmarks"

#: The smallest run of each script (seconds each). A script not listed runs with --quick.
SMALLEST: dict[str, list[str]] = {
    "bus_throughput": ["--messages", "500", "--latency-samples", "50", "--rounds", "1"],
    "frame_serializer": ["--ops", "100", "--repeat", "1", "--rounds", "1"],
    "interruption": ["--rounds", "1"],
    "multiprocess_sessions": [
        *("--start", "2", "--step", "2", "--resolution", "2", "--limit", "2"),
        *("--seconds", "2", "--processes", "1", "2", "--rounds", "1"),
    ],
    "jobs_inprocess": [
        *("--sequential", "50", "--throughput", "100"),
        *("--jobs", "50", "--pipecat-jobs", "50", "--rounds", "1"),
    ],
    "pacing": ["--seconds", "1", "--rounds", "1"],
    "pipeline_throughput": ["--frames", "200", "--samples", "2", "--rounds", "1"],
    "proxy_rtt": ["--sequential", "20", "--throughput", "50", "--rounds", "1"],
    "redis_bus": ["--messages", "200", "--rounds", "1"],
    "serializer": ["--ops", "100", "--rounds", "1"],
    # Two seconds: lag growth compares the first second with the last.
    "transport_sessions": [
        *("--start", "2", "--step", "2", "--resolution", "2", "--limit", "2", "--cpu-at", "2"),
        *("--seconds", "2", "--rounds", "1"),
    ],
    "ui_roundtrip": ["--sequential", "20", "--burst", "10", "--rounds", "1"],
    "vad": ["--seconds", "1", "--rounds", "1"],
    "voice_turns": ["--quick", "--rounds", "1"],
}

#: Scripts that measure Pipecat but publish no ``speedup`` entries (so ``trio-pipe bench``
#: shows no row for them), with why. Each is a known gap, not a pass.
NO_SPEEDUP: dict[str, str] = {}

#: Comparisons each script must publish (the rows the docs quote).
EXPECTED: dict[str, set[str]] = {
    "jobs_inprocess": {"jobs_per_s", "rtt_early_p50", "rtt_p50"},
    "multiprocess_sessions": {
        "max_sessions_kept_up.x1",
        "max_sessions_kept_up.x2",
        "max_sessions_kept_up.worker.x1",
        "max_sessions_kept_up.worker.x2",
    },
    "pipeline_throughput": {"frames_per_s.bare", "frames_per_s.worker"},
    "transport_sessions": {
        "max_sessions_kept_up.bare",
        "max_sessions_kept_up.worker",
        "cpu_per_session.bare",
        "cpu_per_session.worker",
    },
}

#: Rows published without a ratio on purpose (the sides do different work), with a reason.
NO_RATIO: dict[str, set[str]] = {"vad": {"vad_cost"}}

SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_"))


#: Scripts run at once: most of their time is waiting (real-time streams, interpreters
#: starting), so running a few side by side keeps the module's wall time down.
PARALLEL = 4


def _arguments(name: str) -> list[str] | None:
    if name in SMALLEST:
        return SMALLEST[name]
    source = (BENCHMARKS / f"{name}.py").read_text(encoding="utf-8")
    return ["--quick"] if "--quick" in source else None


def _compares(name: str) -> bool:
    """Whether the script measures Pipecat too (some measure trio_pipe alone)."""
    return "pipecat_python" in (BENCHMARKS / f"{name}.py").read_text(encoding="utf-8")


def _run(name: str, python: str) -> subprocess.CompletedProcess[str] | None:
    arguments = _arguments(name)
    if arguments is None:
        return None
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *arguments],
        cwd=ROOT,
        env=dict(os.environ, PIPECAT_PYTHON=python),
        capture_output=True,
        text=True,
        timeout=180,  # a hang guard, not a timing check
        check=False,
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str] | None]:
    """Every script's run (None: it has no smallest size), a few at a time."""
    python = pipecat_interpreter()  # fails the tests without Pipecat, as the interop ones
    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(SCRIPTS, pool.map(lambda name: _run(name, python), SCRIPTS), strict=True))


def _document(name: str, runs: dict[str, Any]) -> dict[str, Any]:
    done = runs[name]
    if done is None:
        pytest.fail(f"benchmarks/{name}.py: add its smallest size to SMALLEST in {__file__}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_prints_what_the_report_reads(name: str, runs: dict[str, Any]) -> None:
    document = _document(name, runs)
    assert document["benchmark"] == name
    assert isinstance(document.get("area", name), str)  # the chart's group (default: name)
    speedup = document.get("speedup", {})
    if _compares(name) and name not in NO_SPEEDUP:
        assert isinstance(speedup, dict) and speedup, "no comparison with Pipecat"
    for metric, entry in speedup.items():
        assert set(SPEEDUP_FIELDS) <= set(entry), metric
        assert entry["rounds"] >= 1
        assert len(entry["per_round"]) == entry["rounds"]
        if entry["median"] is None:
            assert entry["why"], f"{metric}: no ratio and no reason"
        else:
            assert entry["min"] <= entry["median"] <= entry["max"], metric
            assert entry["median"] > 0
    assert EXPECTED.get(name, set()) <= set(speedup)
    for metric in NO_RATIO.get(name, set()):
        assert speedup[metric]["median"] is None and speedup[metric]["why"], metric
    rows = table_rows({name: document})
    assert len(rows) == len(speedup)
    table = markdown(rows)
    for entry in speedup.values():
        assert f"| {entry['label']} |" in table


def test_every_script_has_a_smallest_size() -> None:
    assert set(SMALLEST) <= set(SCRIPTS), "SMALLEST names a script that is gone"
    assert Path(BENCHMARKS / "_harness.py").exists()


def test_the_full_run_gives_each_script_its_own_defaults_or_the_listed_arguments() -> None:
    assert set(FULL_ARGS) | set(QUICK_ARGS) <= set(SCRIPTS), "a configured script is gone"
    for name, extra in FULL_ARGS.items():
        assert arguments(name, quick=False, has_quick=True) == extra
        source = (BENCHMARKS / f"{name}.py").read_text(encoding="utf-8")
        for flag in (word for word in extra if word.startswith("--")):
            assert f'"{flag}"' in source, f"{name} has no {flag}"
    assert arguments("vad", quick=False, has_quick=True) == []
    assert arguments("vad", quick=True, has_quick=True) == ["--quick"]
    assert arguments("pacing", quick=True, has_quick=False) == QUICK_ARGS["pacing"]
