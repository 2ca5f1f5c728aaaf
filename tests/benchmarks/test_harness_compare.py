"""benchmarks._harness.compare: per-round ratios, oriented, summarised by median and range."""

from __future__ import annotations

import pytest

from benchmarks._harness import Metric, compare, field, no_ratio, percentile_of, speedup_entry
from trio_pipe.cli.bench import markdown, table_rows


def test_median_of_per_round_ratios_with_min_and_max() -> None:
    ours = [{"ops": 30.0}, {"ops": 10.0}, {"ops": 40.0}]
    theirs = [{"ops": 10.0}, {"ops": 10.0}, {"ops": 10.0}]
    (entry,) = compare(ours, theirs, {"ops": Metric("ops/s", field("ops"))}).values()
    assert entry == {
        "label": "ops/s",
        "rounds": 3,
        "per_round": [3.0, 1.0, 4.0],
        "median": 3.0,
        "min": 1.0,
        "max": 4.0,
    }


def test_rounds_are_paired_not_best_against_best() -> None:
    # Round 1 was disturbed for both sides: pairing keeps it from skewing the ratio.
    ours = [{"ops": 5.0}, {"ops": 20.0}]
    theirs = [{"ops": 5.0}, {"ops": 20.0}]
    entry = compare(ours, theirs, {"ops": Metric("ops/s", field("ops"))})["ops"]
    assert entry["per_round"] == [1.0, 1.0]


def test_a_time_is_inverted_so_that_higher_is_better() -> None:
    ours = [{"rtt": [0.001, 0.001, 0.001]}]
    theirs = [{"rtt": [0.004, 0.004, 0.004]}]
    metric = Metric("round trip p50", percentile_of("rtt"), higher_is_better=False)
    assert compare(ours, theirs, {"rtt": metric})["rtt"]["median"] == 4.0


def test_a_round_without_a_figure_leaves_no_ratio_and_says_why() -> None:
    entry = speedup_entry("sessions kept up", [1.5, None], why="Pipecat kept up with 0")
    assert entry["median"] is None and entry["why"] == "Pipecat kept up with 0"
    assert entry["per_round"] == [1.5, None]
    ours, theirs = [{"n": 60}], [{"n": 0}]
    assert compare(ours, theirs, {"n": Metric("n", field("n"))})["n"]["median"] is None


def test_unequal_work_is_shown_with_its_reason_not_as_a_ratio() -> None:
    entry = no_ratio("VAD cost", 3, why="different work: WebRTC vs Silero")
    assert entry["median"] is None and entry["rounds"] == 3
    (row,) = table_rows({"vad": {"speedup": {"vad_cost": entry}}})
    assert row.median is None
    assert "| VAD cost | no ratio | different work: WebRTC vs Silero | 3 |" in markdown([row])
    with pytest.raises(ValueError):
        no_ratio("VAD cost", 3, why="")
