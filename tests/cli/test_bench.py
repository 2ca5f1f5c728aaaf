"""trio-pipe bench: runs benchmark scripts, reads their ratios, writes a table."""

from __future__ import annotations

import json
import textwrap

import pytest

from trio_pipe.cli import SUBCOMMANDS, main
from trio_pipe.cli.bench import markdown, table_rows


def test_ratios_are_oriented_so_bigger_is_better():
    rows = table_rows(
        {
            "bus": {"ratio": {"msgs_per_s": 3.0, "latency_p50": 0.5}},
            "frames": {"speedup": {"audio_out": 2.0}},
            "voice": {"protobuf": {"ratio_p99": 0.25}},
            "solo": {"pipecat": "not measured"},
        }
    )
    assert rows == [
        ("bus", "msgs_per_s", 3.0, 3.0),
        ("bus", "latency_p50", 0.5, 2.0),
        ("frames", "audio_out", 2.0, 2.0),
        ("voice", "protobuf.ratio_p99", 0.25, 4.0),
    ]
    table = markdown(rows)
    assert "| bus | latency_p50 | 0.50 | 2.00x better |" in table
    assert "about even" in markdown([("x", "ops_per_s", 1.01, 1.01)])


def test_runs_scripts_and_writes_results(tmp_path, monkeypatch, capsys):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "_harness.py").write_text("")
    (bench / "fast.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            quick = "--quick" in sys.argv
            print(json.dumps({"benchmark": "fast", "quick": quick, "ratio": {"ops_per_s": 2.5}}))
            """
        )
    )
    (bench / "broken.py").write_text("raise SystemExit('boom')\n")
    monkeypatch.delenv("PIPECAT_PYTHON", raising=False)
    out = tmp_path / "out"
    status = main(["bench", "--benchmarks", str(bench), "--out", str(out), "--quick"])
    assert status == 1  # broken.py failed, and the run says so
    results = json.loads((out / "results.json").read_text())
    assert results == {"fast": {"benchmark": "fast", "quick": True, "ratio": {"ops_per_s": 2.5}}}
    assert "| fast | ops_per_s | 2.50 | 2.50x better |" in (out / "results.md").read_text()
    assert "failed: broken" in capsys.readouterr().err


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
