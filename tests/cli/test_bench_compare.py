"""Comparing two bench runs row by row (pure: results documents in, table out)."""

from __future__ import annotations

import json

from trio_pipe.cli.bench_compare import agreement, main, markdown


def _run(**medians: tuple[float | None, float, float]) -> dict:
    speedup = {
        metric: {"label": metric.replace("_", " "), "median": m, "min": lo, "max": hi, "rounds": 3}
        | ({"why": "no sessions kept up"} if m is None else {})
        for metric, (m, lo, hi) in medians.items()
    }
    return {"proxy_rtt": {"benchmark": "proxy_rtt", "area": "proxy", "speedup": speedup}}


def test_inside_overlap_and_neither():
    old = _run(jobs=(2.5, 2.1, 2.8), p50=(1.1, 1.0, 1.2), cpu=(5.0, 4.8, 5.2), gone=(1.0, 1.0, 1.0))
    new = _run(jobs=(2.6, 2.4, 3.0), p50=(1.3, 1.15, 1.4), cpu=(6.0, 5.5, 6.5), fresh=(1.5, 1, 2))
    rows = {row.key[1]: row for row in agreement(old, new)}
    assert (rows["jobs"].inside, rows["jobs"].overlap) == (True, True)
    assert (rows["p50"].inside, rows["p50"].overlap) == (False, True)
    assert (rows["cpu"].inside, rows["cpu"].overlap) == (False, False)
    assert rows["gone"].new is None and rows["gone"].inside is None
    assert rows["fresh"].old is None and rows["fresh"].overlap is None
    table = markdown(list(rows.values()))
    assert table.startswith("3 comparisons in both runs: 1 new medians inside the old range, ")
    assert "2 ranges overlap, 1 do not." in table


def test_a_row_without_a_ratio_is_not_counted():
    old = _run(kept=(None, 0, 0))
    new = _run(kept=(1.5, 1.4, 1.6))
    (row,) = agreement(old, new)
    assert row.inside is None
    assert "no ratio" in markdown([row])


def test_the_command_reads_two_files(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(_run(jobs=(2.5, 2.1, 2.8))))
    (tmp_path / "b.json").write_text(json.dumps(_run(jobs=(2.2, 2.0, 2.3))))
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "| jobs (`proxy_rtt`) | 2.50 (2.10–2.80) | 2.20 (2.00–2.30) | yes | yes |" in (
        capsys.readouterr().out
    )
