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
from pathlib import Path
from typing import Any

import pytest
from required_services import ROOT, pipecat_interpreter

from benchmarks._harness import SPEEDUP_FIELDS
from trio_pipe.cli.bench import markdown, table_rows

BENCHMARKS = ROOT / "benchmarks"

#: The smallest run of each script (seconds each). A script not listed runs with --quick.
SMALLEST: dict[str, list[str]] = {
    "bus_throughput": ["--messages", "500", "--latency-samples", "50", "--rounds", "1"],
    "frame_serializer": ["--ops", "100", "--rounds", "1"],
    "interruption": ["--rounds", "1"],
    "multiprocess_sessions": ["--sessions", "2", "--seconds", "2", "--processes", "1"],
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
    "transport_sessions": ["--sessions", "2", "--seconds", "2", "--rounds", "1"],
    "ui_roundtrip": ["--sequential", "20", "--burst", "10", "--rounds", "1"],
    "vad": ["--seconds", "1", "--rounds", "1"],
    "voice_turns": ["--quick", "--rounds", "1"],
}

#: Scripts that measure Pipecat but publish no ``speedup`` entries (so ``trio-pipe bench``
#: shows no row for them), with why. Each is a known gap, not a pass.
NO_SPEEDUP = {
    "multiprocess_sessions": "single-run ratios under 'ratios' (issue 16); not in the report",
}

#: Comparisons each script must publish (the rows the docs quote).
EXPECTED: dict[str, set[str]] = {
    "jobs_inprocess": {"jobs_per_s", "rtt_early_p50", "rtt_p50"},
    "pipeline_throughput": {"frames_per_s.bare", "frames_per_s.worker"},
    "transport_sessions": {"max_sessions_kept_up.bare", "max_sessions_kept_up.worker"},
}

SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_"))


def _arguments(name: str) -> list[str]:
    if name in SMALLEST:
        return SMALLEST[name]
    source = (BENCHMARKS / f"{name}.py").read_text(encoding="utf-8")
    if "--quick" not in source:
        pytest.fail(f"benchmarks/{name}.py: add its smallest size to SMALLEST in {__file__}")
    return ["--quick"]


def _compares(name: str) -> bool:
    """Whether the script measures Pipecat too (some measure trio_pipe alone)."""
    return "pipecat_python" in (BENCHMARKS / f"{name}.py").read_text(encoding="utf-8")


def _run(name: str, python: str) -> dict[str, Any]:
    env = dict(os.environ, PIPECAT_PYTHON=python)
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *_arguments(name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # a hang guard, not a timing check
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def pipecat_python() -> str:
    """Pipecat 1.14's interpreter (fails the test without it, as the interop tests do)."""
    return pipecat_interpreter()


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_prints_what_the_report_reads(name: str, pipecat_python: str) -> None:
    document = _run(name, pipecat_python)
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
    rows = table_rows({name: document})
    assert len(rows) == len(speedup)
    table = markdown(rows)
    for entry in speedup.values():
        assert f"| {entry['label']} |" in table


def test_every_script_has_a_smallest_size() -> None:
    assert set(SMALLEST) <= set(SCRIPTS), "SMALLEST names a script that is gone"
    assert Path(BENCHMARKS / "_harness.py").exists()
