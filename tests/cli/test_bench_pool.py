"""Pooling bench runs: every round of every run behind each median and range."""

from __future__ import annotations

import json
import sys

from trio_pipe.cli.bench_compare import agreement
from trio_pipe.cli.bench_pool import main, pool


def _run(load: float, **rounds: list[float] | None) -> dict:
    """A results document; None for a comparison with no ratio (as vad has)."""
    speedup = {}
    for metric, values in rounds.items():
        if values is None:
            speedup[metric] = {
                "label": metric,
                "median": None,
                "per_round": [None, None],
                "rounds": 2,
                "why": "no sessions kept up",
            }
        else:
            ordered = sorted(values)
            speedup[metric] = {
                "label": metric,
                "median": ordered[len(ordered) // 2],
                "min": ordered[0],
                "max": ordered[-1],
                "per_round": values,
                "rounds": len(values),
            }
    return {
        "_run": {"quick": False, "loadavg_start": [load] * 3, "loadavg_end": [load] * 3},
        "proxy_rtt": {"area": "proxy", "nested": {"speedup": speedup}},
    }


def test_each_comparison_is_pooled_over_every_round_of_every_run():
    first = _run(0.5, jobs=[2.0, 2.2, 2.4], p50=[1.1, 1.2, 1.3], kept=None)
    second = _run(0.9, jobs=[3.0, 3.1, 3.2], p50=[1.0], kept=[1.5, 1.7])
    pooled = pool([first, second])
    entries = pooled["proxy_rtt"]["nested"]["speedup"]
    assert entries["jobs"]["per_round"] == [2.0, 2.2, 2.4, 3.0, 3.1, 3.2]
    assert (entries["jobs"]["median"], entries["jobs"]["min"], entries["jobs"]["max"]) == (
        2.7,
        2.0,
        3.2,
    )
    assert entries["jobs"]["rounds"] == 6
    assert entries["p50"]["rounds"] == 4 and entries["p50"]["median"] == 1.15
    # A run without a ratio adds no rounds; the run that has one decides the row.
    assert entries["kept"]["median"] == 1.6 and "why" not in entries["kept"]
    assert [r["loadavg_start"] for r in pooled["_run"]["pooled"]] == [[0.5] * 3, [0.9] * 3]
    # The inputs are left as they were.
    assert first["proxy_rtt"]["nested"]["speedup"]["jobs"]["rounds"] == 3


def test_the_pooled_range_holds_both_runs_medians():
    first = _run(0.5, jobs=[2.0, 2.1, 2.2])
    second = _run(0.5, jobs=[2.6, 2.7, 2.8])
    (apart,) = agreement(first, second)
    assert not apart.inside  # one run's spread does not predict the next
    pooled = pool([first, second])
    for run in (first, second):
        (row,) = agreement(pooled, run)
        assert row.inside


def test_a_comparison_no_run_has_a_ratio_for_stays_as_stated():
    pooled = pool([_run(0.5, kept=None), _run(0.5, kept=None)])
    entry = pooled["proxy_rtt"]["nested"]["speedup"]["kept"]
    assert entry["median"] is None and entry["why"] == "no sessions kept up"


def test_the_command_writes_the_pooled_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in CI: no chart, a note
    paths = []
    for i, rounds in enumerate(([2.0, 2.2, 2.4], [3.0, 3.1, 3.2])):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps(_run(0.5, jobs=rounds)))
        paths.append(str(path))
    assert main([str(tmp_path / "pooled"), *paths]) == 0
    table = (tmp_path / "pooled" / "results.md").read_text()
    assert "Pooled from 2 full runs" in table
    assert "| proxy | jobs | 2.70x better | 2.00–3.20 | 6 |" in table
    printed = capsys.readouterr()
    assert printed.out == table  # the table alone: the note goes to stderr
    assert "matplotlib is not installed" in printed.err
    written = json.loads((tmp_path / "pooled" / "results.json").read_text())
    assert written["proxy_rtt"]["nested"]["speedup"]["jobs"]["rounds"] == 6
