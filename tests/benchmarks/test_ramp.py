"""benchmarks._ramp: the capacity search, against servers simulated by a threshold."""

from __future__ import annotations

import pytest

from benchmarks._ramp import Search, find_capacity, next_search


def server(capacity: int, tried: list[int]):
    """A server that keeps up with up to ``capacity`` sessions, recording each run."""

    def keeps_up(n: int) -> bool:
        assert n not in tried, f"N={n} run twice"
        tried.append(n)
        return n <= capacity

    return keeps_up


FIRST = Search(start=20, step=20, resolution=5, limit=200)


@pytest.mark.parametrize("capacity", [0, 3, 12, 20, 37, 40, 44, 59, 60, 83, 199])
def test_the_answer_is_within_the_resolution_below_the_true_capacity(capacity: int) -> None:
    tried: list[int] = []
    found = find_capacity(server(capacity, tried), FIRST)
    assert found <= capacity < found + FIRST.resolution or (capacity < 5 and found == 0)
    assert all(n <= FIRST.limit for n in tried)


def test_finer_than_the_fixed_ramp_in_a_few_runs() -> None:
    tried: list[int] = []
    assert find_capacity(server(52, tried), FIRST) == 50
    assert tried == [20, 40, 60, 50, 55]  # the old ramp said 40 after 10, 20, 40, 60


def test_kept_up_at_the_limit_answers_the_limit() -> None:
    tried: list[int] = []
    assert find_capacity(server(500, tried), Search(40, 40, 10, 80)) == 80
    assert tried == [40, 80]


def test_a_later_round_starts_at_the_previous_answer_in_steps_of_the_resolution() -> None:
    later = next_search(FIRST, 50)
    assert later == Search(start=50, step=5, resolution=5, limit=200)
    tried: list[int] = []
    assert find_capacity(server(47, tried), later, first=[20]) == 45
    assert tried == [20, 50, 45]
    assert next_search(FIRST, 0) == FIRST  # nothing kept up: search from the start again


def test_first_probes_run_before_the_search_and_count_in_it() -> None:
    tried: list[int] = []
    assert find_capacity(server(8, tried), FIRST, first=[10]) == 5
    assert tried[0] == 10 and 20 not in tried  # 10 failed: 20 cannot keep up either


def test_the_smallest_search_is_one_run() -> None:
    for capacity in (0, 2):
        tried: list[int] = []
        find_capacity(server(capacity, tried), Search(2, 2, 2, 2), first=[2])
        assert tried == [2]
