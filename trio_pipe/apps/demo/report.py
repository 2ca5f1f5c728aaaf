"""What the demo measured, and how it is printed. Pure: no I/O, no Trio.

:class:`DemoReport` is filled in step by step by ``trio_pipe.apps.demo.run``;
:func:`render_report` turns it into the lines ``trio-pipe demo`` prints, and
:func:`pacing_errors` is the one calculation worth testing on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "BargeInFigures",
    "DemoReport",
    "PacingError",
    "StepResult",
    "TurnFigures",
    "chunks",
    "pacing_errors",
    "render_report",
]


@attrs.define
class StepResult:
    """One step of the demo: did it work, what it showed, how long it took."""

    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@attrs.frozen
class PacingError:
    """How far reply chunks arrived from a real-time schedule, in milliseconds."""

    p50_ms: float
    max_ms: float
    chunks: int


def pacing_errors(arrivals: Sequence[tuple[float, float]]) -> PacingError | None:
    """Compare chunk arrivals with a steady real-time schedule for the same audio.

    ``arrivals`` are ``(arrival time, audio seconds)`` per chunk, in order. Chunk ``i`` is
    due at the schedule's start plus the audio of the chunks before it; the start is the
    one that no chunk beats (the chunk furthest ahead is exactly on time), so a sender
    that bursts its first chunk or two ahead (a playback buffer) shows that as the max,
    not as every chunk being late. The error is how late each chunk is on that schedule.
    None for fewer than two chunks (there is no schedule to miss).
    """
    if len(arrivals) < 2:
        return None
    due_from = []
    played = 0.0
    for arrived, seconds in arrivals:
        due_from.append((arrived, played))
        played += seconds
    start = min(arrived - before for arrived, before in due_from)
    errors = sorted((arrived - (start + before)) * 1000.0 for arrived, before in due_from)
    return PacingError(p50_ms=errors[len(errors) // 2], max_ms=errors[-1], chunks=len(arrivals))


@attrs.define
class TurnFigures:
    """The voice turn, from the client's side (seconds; latencies may be None)."""

    sent_s: float
    received_s: float
    chunks: int
    first_audio_after_start_s: float | None
    latency_s: float | None  # from the end of speech; negative: the bot talked over the user
    ended_by: str


@attrs.frozen
class BargeInFigures:
    """The barge-in, from the client's side (seconds)."""

    cut_in_after_s: float  # of the bot's reply heard when the client started talking
    stopped_after_s: float  # from then to the last chunk of the cut reply
    chunks_after_interruption: int  # reply chunks that arrived after bot-interrupted
    reply_heard_s: float  # of the cut reply, in all
    answer_s: float  # the bot's echo of the interruption


@attrs.define
class DemoReport:
    """Everything ``trio-pipe demo`` reports. ``ok`` only if every step worked."""

    steps: list[StepResult] = attrs.Factory(list)
    voice_url: str | None = None
    research_url: str | None = None
    turn: TurnFigures | None = None
    barge_in: BargeInFigures | None = None
    pacing: PacingError | None = None
    jobs_run: int | None = None
    job_updates: int | None = None
    job_results: int | None = None
    # component -> messages it sent (bus messages by source, socket frames for clients)
    messages: dict[str, dict[str, int]] = attrs.Factory(dict)
    leftover_tasks: list[str] | None = None
    leftover_sockets: int | None = None

    @property
    def ok(self) -> bool:
        """Every step worked (and at least one ran)."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def failed(self) -> StepResult | None:
        """The first step that failed, if any."""
        return next((step for step in self.steps if not step.ok), None)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if abs(seconds) >= 0.01 else f"{seconds * 1000:.1f} ms"


def _turn_line(turn: TurnFigures) -> str:
    if turn.first_audio_after_start_s is None:
        return "no reply audio"
    line = f"first reply audio {_ms(turn.first_audio_after_start_s)} after the user began"
    if turn.latency_s is not None and turn.latency_s < 0:
        line += f" (an echo: {_ms(-turn.latency_s)} before the user finished)"
    elif turn.latency_s is not None:
        line += f", {_ms(turn.latency_s)} after the user finished"
    return line


def chunks(count: int) -> str:
    """``count`` chunks, in words ("1 chunk", "0 chunks")."""
    return f"{count} chunk" + ("" if count == 1 else "s")


def _barge_in_line(barge: BargeInFigures) -> str:
    return (
        f"cut in {_ms(barge.cut_in_after_s)} into the reply; its audio stopped "
        f"{_ms(barge.stopped_after_s)} later, {chunks(barge.chunks_after_interruption)} after "
        f"bot-interrupted (heard {barge.reply_heard_s:.2f} s of it; "
        f"the interruption echoed back: {barge.answer_s:.2f} s)"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _leftovers(report: DemoReport) -> str:
    if report.leftover_tasks is None:
        return "not checked"
    parts = []
    if report.leftover_tasks:
        names = ", ".join(sorted(report.leftover_tasks)[:5])
        parts.append(f"{len(report.leftover_tasks)} tasks ({names})")
    if report.leftover_sockets:
        parts.append(f"{report.leftover_sockets} sockets")
    if parts:
        return "LEFT RUNNING: " + "; ".join(parts)
    checked = "0 tasks" + (", 0 sockets" if report.leftover_sockets is not None else "")
    return f"nothing ({checked} beyond what was there before)"


def _rows(report: DemoReport) -> Iterable[tuple[str, str]]:
    if report.voice_url:
        yield (
            "voice bot",
            f"{report.voice_url}  PipelineWorker 'voice' (turn-taking echo) + UIWorker 'ui'",
        )
    if report.research_url:
        yield "research host", f"{report.research_url}  WebSocketProxyServer -> 'research'"
    if report.turn is not None:
        turn = report.turn
        yield "turn latency", _turn_line(turn)
        yield (
            "audio",
            f"sent {turn.sent_s:.2f} s, received {turn.received_s:.2f} s "
            f"in {turn.chunks} chunks (ended by {turn.ended_by})",
        )
    if report.barge_in is not None:
        yield "barge-in", _barge_in_line(report.barge_in)
    if report.pacing is not None:
        pacing = report.pacing
        yield (
            "pacing error",
            f"p50 {pacing.p50_ms:.1f} ms, max {pacing.max_ms:.1f} ms "
            f"over {pacing.chunks} chunks (arrival vs a steady real-time schedule)",
        )
    if report.jobs_run is not None:
        yield (
            "jobs run",
            f"{report.jobs_run} on 'research' through the proxy "
            f"({report.job_updates or 0} progress updates, {report.job_results or 0} results "
            "shown to the client)",
        )
    for index, (where, counts) in enumerate(report.messages.items()):
        yield ("messages" if index == 0 else "", f"{where}: {_counts(counts)}")
    if report.leftover_tasks is not None or report.failed is None:
        yield "left running", _leftovers(report)


def render_report(report: DemoReport) -> list[str]:
    """The report's lines: one figure per line, then the verdict."""
    lines = [f"{label:<14} {value}" for label, value in _rows(report)]
    done = sum(step.ok for step in report.steps)
    failed = report.failed
    if failed is None and report.ok:
        lines.append(f"{'result':<14} PASS ({done}/{len(report.steps)} steps)")
    elif failed is not None:
        lines.append(f"{'result':<14} FAIL at '{failed.name}': {failed.detail}")
    else:
        lines.append(f"{'result':<14} FAIL: no step ran")
    return lines
