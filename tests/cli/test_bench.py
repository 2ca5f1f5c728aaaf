"""trio-pipe bench: runs benchmark scripts, reads their comparisons, writes a table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trio_pipe.cli import SUBCOMMANDS, main
from trio_pipe.cli.bench import Row, chart_layout, markdown, table_rows

ENTRY = {"label": "messages/s", "median": 3.1, "min": 2.9, "max": 3.4, "rounds": 3}


def test_speedup_entries_are_read_with_their_spread_and_grouped_by_area():
    rows = table_rows(
        {
            "_run": {"loadavg_start": [1.0, 1.0, 1.0]},
            "bus": {"area": "Bus", "speedup": {"msgs": ENTRY}},
            "sessions": {
                "area": "Transports",
                "speedup": {
                    "kept_up.bare": {
                        "label": "sessions kept up with",
                        "median": None,
                        "rounds": 3,
                        "why": "Pipecat kept up with 0 sessions",
                    }
                },
            },
            "redis": {"area": "Bus", "speedup": {"msgs": {**ENTRY, "label": "redis msgs/s"}}},
            "solo": {"pipecat": "not measured"},
        }
    )
    assert [(r.area, r.label, r.median) for r in rows] == [
        ("Bus", "messages/s", 3.1),
        ("Bus", "redis msgs/s", 3.1),
        ("Transports", "sessions kept up with", None),
    ]
    table = markdown(rows)
    assert "| Bus | messages/s | 3.10x better | 2.90–3.40 | 3 |" in table
    # A row without a ratio stays, and says why.
    assert "| Transports | sessions kept up with | no ratio | Pipecat kept up with 0" in table
    assert chart_layout(rows) == ["Bus", rows[0], rows[1], "Transports", rows[2]]


def test_single_ratios_are_oriented_so_bigger_is_better():
    rows = table_rows(
        {
            "bus": {"ratio": {"msgs_per_s": 3.0, "latency_p50": 0.5}},
            "frames": {"speedup": {"audio_out": 2.0}},
            "voice": {"protobuf": {"ratio_p99": 0.25}},
        }
    )
    assert [(r.metric, r.median) for r in rows] == [
        ("msgs_per_s", 3.0),
        ("latency_p50", 2.0),
        ("audio_out", 2.0),
        ("protobuf.ratio_p99", 4.0),
    ]
    assert "single figure" in markdown(rows)
    assert "about even" in markdown([Row("x", "x", "ops", "ops/s", 1.01)])
    assert "1.25x worse" in markdown([Row("x", "x", "ops", "ops/s", 0.8)])


FAST = f"""
import json
print(json.dumps({{"benchmark": "fast", "area": "A", "speedup": {{"ops": {ENTRY!r}}}}}))
"""


def _folder(tmp_path: Path, scripts: dict[str, str]) -> Path:
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "_harness.py").write_text("")
    for name, text in scripts.items():
        (bench / f"{name}.py").write_text(textwrap.dedent(text))
    return bench


def test_runs_scripts_and_writes_results(tmp_path, monkeypatch, capsys):
    bench = _folder(tmp_path, {"fast": FAST, "broken": "raise SystemExit('boom')\n"})
    monkeypatch.delenv("PIPECAT_PYTHON", raising=False)
    out = tmp_path / "out"
    status = main(["bench", "--benchmarks", str(bench), "--out", str(out), "--quick"])
    assert status == 1  # broken.py failed, and the run says so
    results = json.loads((out / "results.json").read_text())
    assert results["fast"]["speedup"]["ops"] == ENTRY
    assert len(results["_run"]["loadavg_start"]) == 3  # the machine's load, recorded
    table = (out / "results.md").read_text()
    assert "| A | messages/s | 3.10x better | 2.90–3.40 | 3 |" in table
    assert "load average" in table
    assert "failed: broken" in capsys.readouterr().err


def test_interrupted_run_keeps_what_it_finished(tmp_path):
    started = tmp_path / "slow-started"
    slow = f"""
    import pathlib, time
    pathlib.Path({str(started)!r}).write_text("")
    time.sleep(120)
    """
    bench = _folder(tmp_path, {"a_fast": FAST, "b_slow": slow})
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PIPECAT_PYTHON"}
    argv = [sys.executable, "-m", "trio_pipe", "bench", "--benchmarks", str(bench)]
    proc = subprocess.Popen(
        [*argv, "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60  # a hang guard, not a timing check
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the slow benchmark never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    results = json.loads((out / "results.json").read_text())
    assert "a_fast" in results and "b_slow" not in results
    assert results["_run"]["interrupted"] is True
    table = (out / "results.md").read_text()
    assert "| A | messages/s | 3.10x better |" in table
    assert "interrupted" in table


def test_unknown_benchmark_is_one_line_error(tmp_path, capsys):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "_harness.py").write_text("")
    assert main(["bench", "--benchmarks", str(bench), "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trio-pipe bench: no such benchmark: nope")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: trio-pipe" in capsys.readouterr().out
