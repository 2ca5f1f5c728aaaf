"""The demo's report and progress display, without running the demo."""

from __future__ import annotations

import io

import pytest
import trio

from trio_pipe.apps.demo import DemoReport, Progress, StepResult, pacing_errors, render_report
from trio_pipe.apps.demo.report import BargeInFigures, TurnFigures


def test_pacing_error_against_a_steady_real_time_schedule():
    # 20 ms chunks: the last one is furthest ahead (1 ms), so the schedule starts at
    # 9.999: the others are 1, 4 and 1 ms late on it.
    arrivals = [(10.000, 0.02), (10.023, 0.02), (10.040, 0.02), (10.059, 0.02)]
    pacing = pacing_errors(arrivals)
    assert pacing is not None and pacing.chunks == 4
    assert pacing.max_ms == pytest.approx(4.0)
    assert pacing.p50_ms == pytest.approx(1.0)
    assert pacing_errors(arrivals[:1]) is None


def test_a_first_chunk_sent_ahead_is_one_error_not_all():
    # The bot sends its first two 40 ms chunks at once, then one every 40 ms.
    arrivals = [(0.0, 0.04), (0.0, 0.04), (0.04, 0.04), (0.08, 0.04), (0.12, 0.04)]
    pacing = pacing_errors(arrivals)
    assert pacing is not None
    assert pacing.p50_ms == pytest.approx(0.0, abs=1e-6)
    assert pacing.max_ms == pytest.approx(40.0)


def passing_report() -> DemoReport:
    report = DemoReport(
        steps=[StepResult("one", True, "fine"), StepResult("two", True)],
        voice_url="ws://127.0.0.1:1/voice",
        research_url="ws://127.0.0.1:2/proxy",
        turn=TurnFigures(1.5, 1.68, 42, 1.805, 0.304, "voice_ended"),
        barge_in=BargeInFigures(0.44, 0.2, 0, 0.52, 1.16),
        jobs_run=1,
        job_updates=3,
        job_results=3,
        messages={"bus": {"ui": 9, "voice": 2}, "client socket": {"sent": 77}},
        leftover_tasks=[],
        leftover_sockets=0,
    )
    report.pacing = pacing_errors([(0.0, 0.04), (0.0405, 0.04)])  # one 0.5 ms late
    return report


def test_render_a_passing_report():
    lines = render_report(passing_report())
    assert lines == [
        "voice bot      ws://127.0.0.1:1/voice  "
        "PipelineWorker 'voice' (turn-taking echo) + UIWorker 'ui'",
        "research host  ws://127.0.0.1:2/proxy  WebSocketProxyServer -> 'research'",
        "turn latency   first reply audio 1805 ms after the user began, "
        "304 ms after the user finished",
        "audio          sent 1.50 s, received 1.68 s in 42 chunks (ended by voice_ended)",
        "barge-in       cut in 440 ms into the reply; its audio stopped 200 ms later, "
        "0 chunks after bot-interrupted (heard 0.52 s of it; the interruption echoed back: "
        "1.16 s)",
        "pacing error   p50 0.5 ms, max 0.5 ms over 2 chunks "
        "(arrival vs a steady real-time schedule)",
        "jobs run       1 on 'research' through the proxy "
        "(3 progress updates, 3 results shown to the client)",
        "messages       bus: ui 9, voice 2",
        "               client socket: sent 77",
        "left running   nothing (0 tasks, 0 sockets beyond what was there before)",
        "result         PASS (2/2 steps)",
    ]


def test_render_a_failing_report_names_the_step_and_what_was_left():
    report = DemoReport(
        steps=[StepResult("one", True), StepResult("voice turn", False, "timed out after 10.0 s")],
        leftover_tasks=["b", "a"],
        leftover_sockets=2,
    )
    assert not report.ok
    assert render_report(report) == [
        "left running   LEFT RUNNING: 2 tasks (a, b); 2 sockets",
        "result         FAIL at 'voice turn': timed out after 10.0 s",
    ]
    assert render_report(DemoReport())[-1] == "result         FAIL: no step ran"


def test_a_positive_latency_reads_after_the_user_finished():
    report = DemoReport(turn=TurnFigures(1.0, 1.0, 5, 1.2, 0.2, "tail_silence"))
    assert render_report(report)[0] == (
        "turn latency   first reply audio 1200 ms after the user began, "
        "200 ms after the user finished"
    )


def test_a_negative_latency_reads_as_an_echo():
    report = DemoReport(turn=TurnFigures(1.5, 1.48, 37, 0.021, -1.479, "tail_silence"))
    assert render_report(report)[0] == (
        "turn latency   first reply audio 21 ms after the user began "
        "(an echo: 1479 ms before the user finished)"
    )


def test_one_late_chunk_is_singular():
    report = DemoReport(barge_in=BargeInFigures(0.4, 0.25, 1, 0.6, 1.0))
    assert render_report(report)[0].startswith(
        "barge-in       cut in 400 ms into the reply; its audio stopped 250 ms later, "
        "1 chunk after bot-interrupted"
    )


async def test_plain_progress_is_one_line_per_step():
    out = io.StringIO()
    progress = Progress(out)
    assert not progress.live  # a StringIO is not a terminal
    progress.begin("one")
    progress.end(StepResult("one", True, "fine", 0.1))
    progress.begin("two")
    progress.end(StepResult("two", False, "broke", 0.2))
    progress.line("report")
    assert out.getvalue() == "[ok] one: fine\n[FAIL] two: broke\nreport\n"


async def test_live_progress_redraws_in_place(monkeypatch, autojump_clock):
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.begin("one")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(progress.spin)
        await trio.sleep(0.2)  # a couple of redraws on the mock clock
        progress.end(StepResult("one", True, "fine", 0.2))
        nursery.cancel_scope.cancel()
    text = out.getvalue()
    assert text.count("\r\x1b[K") >= 3  # begin, redraws, end: all on one terminal line
    assert "one (0.1 s)" in text  # the running step shows its clock
    assert text.endswith("\r\x1b[K ok one: fine (0.2 s)\n")  # ASCII marks off a UTF-8 terminal
