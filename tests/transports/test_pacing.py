"""The pacing schedule, pure (O7): exact send times without any I/O."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pipe.transports.pacing import Pacer, send_interval


def schedule(
    pacer: Pacer, n: int, *, start: float = 0.0, stall: dict[int, float] | None = None
) -> list[float]:
    """Send times of ``n`` queued chunks (a write takes no time unless ``stall`` says)."""
    now, times = start, []
    for k in range(n):
        now += (stall or {}).get(k, 0.0)
        times.append(round(now, 9))
        now = max(now, pacer.after_write(now, backlog=k > 0))
    return times


def test_send_interval_is_the_chunk_duration() -> None:
    assert send_interval(1280, 16000, 1) == 0.04
    assert send_interval(2560, 16000, 2) == 0.04  # Pipecat: 0.08 (stereo at half speed)
    assert send_interval(1920, 24000, 1) == 0.04


def test_first_two_back_to_back_then_one_interval_apart() -> None:
    """T39's schedule."""
    times = schedule(Pacer(0.04), 12)
    assert times == [0.0, 0.0] + [round(0.04 * k, 9) for k in range(1, 11)]


def test_idle_gap_restarts_without_catch_up() -> None:
    """T40's schedule: the queue ran empty, so the clock restarts."""
    pacer = Pacer(0.04)
    first = schedule(pacer, 4)
    later = schedule(pacer, 3, start=first[-1] + 1.0)
    assert [round(t - later[0], 9) for t in later] == [0.0, 0.0, 0.04]


def test_short_stall_with_backlog_catches_up_to_the_grid() -> None:
    """A write held up 100 ms while audio waited: the schedule is kept (Pipecat restarts)."""
    times = schedule(Pacer(0.04), 12, stall={5: 0.1})
    assert times[:5] == [0.0, 0.0, 0.04, 0.08, 0.12]
    assert times[5:8] == [0.26, 0.26, 0.26]  # catch up, back to back
    assert times[8:] == [0.28, 0.32, 0.36, 0.4]  # the original grid: no extra latency


def test_long_stall_is_forgiven_beyond_the_catch_up_bound() -> None:
    times = schedule(Pacer(0.04, max_catch_up=2), 12, stall={5: 0.5})
    burst = [t for t in times if t == times[5]]
    assert len(burst) == 4  # the normal pair plus two chunks of catch-up
    assert [round(b - a, 9) for a, b in itertools.pairwise(times[8:])] == [0.04] * 3


def live(pacer: Pacer, arrivals: list[float]) -> list[float]:
    """Send times of chunks arriving at ``arrivals`` one by one (live audio): a writer
    that sleeps after each write as the pacer says; a chunk is backlog when it arrived
    before the writer was free."""
    sent: list[float] = []
    free = 0.0
    for arrival in arrivals:
        now = max(arrival, free)
        sent.append(round(now, 9))
        free = max(now, pacer.after_write(now, backlog=arrival < free))
    return sent


def test_live_audio_late_within_the_window_adds_no_lasting_latency() -> None:
    """An echo's chunks come one at a time; one held up 70 ms must not hold back every
    later chunk (restarting the clock there, as Pipecat does, delays each by 30 ms)."""
    grid = [round(0.04 * k, 9) for k in range(12)]
    arrivals = [*grid[:4], grid[4] + 0.07, *grid[5:]]
    sent = live(Pacer(0.04), arrivals)
    assert sent[:4] == grid[:4] and sent[4] == arrivals[4]
    assert sent[5] == arrivals[4]  # arrived during the stall: right behind it
    assert sent[6:] == grid[6:]  # back on time: no lasting latency
    pipecat = live(Pacer(0.04, max_catch_up=0), arrivals)
    assert all(round(p - g, 9) == 0.03 for p, g in zip(pipecat[6:], grid[6:], strict=True))


def test_live_pause_beyond_the_window_restarts_the_clock() -> None:
    pacer = Pacer(0.04)
    sent = live(pacer, [0.0, 0.04, 0.08, 0.5, 0.5, 0.5])
    assert sent[3:] == [0.5, 0.5, 0.54]  # T40's shape after a real pause


def test_zero_catch_up_behaves_like_pipecat() -> None:
    times = schedule(Pacer(0.04, max_catch_up=0), 8, stall={4: 0.2})
    assert times[4:7] == [0.32, 0.32, 0.36]  # restarted: the stall is kept as latency


def test_reset_lets_the_next_write_go_at_once() -> None:
    pacer = Pacer(0.04)
    schedule(pacer, 5)
    pacer.reset()
    assert pacer.next_send is None
    assert pacer.after_write(10.0, backlog=True) == 10.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Pacer(0)
    with pytest.raises(ValueError):
        Pacer(0.04, max_catch_up=-1)


@given(
    stalls=st.dictionaries(st.integers(0, 60), st.floats(0, 0.5), max_size=8),
    catch_up=st.integers(0, 4),
)
def test_never_more_back_to_back_than_the_bound(stalls: dict[int, float], catch_up: int) -> None:
    """Whatever the stalls, no burst exceeds the normal pair plus the catch-up bound, and
    never is a chunk sent before its place on the grid it keeps."""
    times = schedule(Pacer(0.04, max_catch_up=catch_up), 60, stall=stalls)
    run = longest = 1
    for a, b in itertools.pairwise(times):
        run = run + 1 if b == a else 1
        longest = max(longest, run)
    assert longest <= 2 + catch_up
    assert all(b >= a for a, b in itertools.pairwise(times))
