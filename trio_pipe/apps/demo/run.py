"""The demo's script: start two servers, play a client, check every step, tear down.

:func:`run_demo` runs the steps in order, each bounded by ``step_timeout`` and by what is
left of ``timeout``, and stops at the first that fails (its detail says why). Whatever
happened, everything it started is then cancelled, and the last step checks that no task
(and no socket, where ``/proc/self/fd`` exists) is left beyond those that were there
before it began.

Structure: everything runs in one nursery that ``run_demo`` owns. The servers and the
research runner are :class:`_Service` children (a cancel scope each, so shutting down
is cancelling them one by one); the client is a child too, because the adapter's
``connect`` and ``disconnect`` must happen in one task that outlives the step that
connects.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import hypercorn.config
import trio

from trio_pipe.apps.demo.client import DemoClient, is_toast, job_group_kind, rtvi, short
from trio_pipe.apps.demo.hosts import ResearchHost, VoiceHost, VoiceSession, describe_ending
from trio_pipe.apps.demo.progress import Progress
from trio_pipe.apps.demo.report import (
    BargeInFigures,
    DemoReport,
    StepResult,
    TurnFigures,
    chunks,
    pacing_errors,
)
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice import TurnEndReason, utterance_chunk
from trio_pipe.ws.client import ConnectError, open_client_socket

__all__ = ["DemoConfig", "StepFailed", "run_demo"]

# The speaking events the bot's RTVI sends for one turn, in the order they must come.
_TURN = ("user-started-speaking", "user-stopped-speaking", "bot-started-speaking",
         "bot-stopped-speaking")  # fmt: skip
# Quiet on the socket this long: the bot's reply is over (its chunks come every 40 ms).
_REPLY_GAP = 0.4
# Reply chunks allowed after bot-interrupted: those already on the wire.
_LATE_CHUNKS = 2


@attrs.frozen
class DemoConfig:
    """Knobs of the demo; the defaults finish in a few seconds."""

    timeout: float = 30.0
    """Seconds for the whole demo."""
    step_timeout: float = 10.0
    """Seconds for one step."""
    utterance_seconds: float = 1.5
    """Length of the generated utterance the client speaks."""
    query: str = "structured concurrency"
    """What the client asks the research worker."""
    barge_in_seconds: float = 0.8
    """Length of the barge-in step's utterances (the question and the interruption)."""
    barge_in_after: float = 0.4
    """Seconds of the bot's reply the client hears before it cuts in."""
    vad_stop_secs: float = 0.15
    """Quiet the client's VAD needs in the bot's audio to end its turn (under the bot's
    own 0.2 s, which is all the quiet its echo ends with)."""


class StepFailed(Exception):
    """A step's check did not hold; the message is the report's failing line."""


class _Service:
    """A long-running child in a cancel scope of its own: started, later stopped.

    ``outcome`` says how it ended, so that a step claims only what happened: "returned"
    (by itself), "cancelled" (stopped), or "failed (...)". A failure after it started is
    recorded, not raised: the step that waits for it reports it.
    """

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.outcome: str | None = None

    async def run(
        self, fn: Callable[..., Awaitable[Any]], *, task_status: trio.TaskStatus[Any]
    ) -> None:
        started = False
        try:
            with self.scope:
                async with trio.open_nursery() as nursery:
                    value = await nursery.start(fn)
                    started = True
                    task_status.started(value)
            self.outcome = "cancelled" if self.scope.cancelled_caught else "returned"
        except Exception as exc:
            self.outcome = describe_ending(exc)
            if not started:  # the step that starts it fails with it, as itself
                while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                    exc = exc.exceptions[0]
                raise exc from None
        finally:
            self.done.set()

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


def _hypercorn_config() -> hypercorn.config.Config:
    """Hypercorn's defaults, but its log through ``logging`` (it adds a handler otherwise)."""
    config = hypercorn.config.Config()
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


def _live_tasks() -> set[trio.lowlevel.Task]:
    """Every task of this run (walks the task tree from the root)."""
    found: set[trio.lowlevel.Task] = set()
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        found.add(task)
        pending.extend(c for n in task.child_nurseries for c in n.child_tasks)
    return found


def _open_sockets() -> set[str] | None:
    """The socket inodes this process holds, or None where that cannot be read."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listdir's own fd)
        if target.startswith("socket:"):
            found.add(target)
    return found


async def _listening(port: int) -> bool:
    """Whether something accepts connections on loopback ``port``."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


class _Demo:
    """The state the steps share."""

    def __init__(self, config: DemoConfig, report: DemoReport, nursery: trio.Nursery) -> None:
        self.config = config
        self.report = report
        self.nursery = nursery
        self.research = ResearchHost()
        self.research_runner = _Service()
        self.research_server = _Service()
        self.voice_server = _Service()
        self.voice: VoiceHost | None = None
        self.session: VoiceSession | None = None
        self.client: DemoClient | None = None
        self.hang_up = trio.Event()
        self.client_done = trio.Event()
        self.ports: list[int] = []  # the servers', checked closed at shutdown

    # --- the steps, in order; each returns its detail line ------------------------------

    async def start_research_host(self) -> str:
        await self.nursery.start(self.research_runner.run, self.research.run)
        served = await self.nursery.start(
            self.research_server.run,
            partial(serve_asgi, self.research.app(), config=_hypercorn_config()),
        )
        self.report.research_url = served.ws_url("/proxy")
        self.ports.append(served.port)
        return f"{self.report.research_url} (runner 'research-host', token-checked handshake)"

    async def start_voice_bot(self) -> str:
        assert self.report.research_url is not None
        self.voice = VoiceHost(research_url=self.report.research_url, token=self.research.token)
        served = await self.nursery.start(
            self.voice_server.run, partial(serve_asgi, self.voice.app(), config=_hypercorn_config())
        )
        self.report.voice_url = served.ws_url("/voice")
        self.ports.append(served.port)
        return str(self.report.voice_url)

    async def connect_client(self) -> str:
        assert self.report.voice_url is not None
        self.client = client = DemoClient(
            self.report.voice_url, vad_stop_secs=self.config.vad_stop_secs, connect_timeout=5.0
        )
        await self.nursery.start(self._client_task, client)
        await client.send_rtvi(rtvi("client-ready", "c1", {"version": "2.2.0"}))
        ready = await client.expect(lambda e: e.get("type") == "bot-ready")
        about = (ready.get("data") or {}).get("about") or {}
        library = f"{about.get('library', '?')} {about.get('library_version', '')}".strip()
        return f"RTVI client-ready answered by bot-ready ({library})"

    async def _client_task(self, client: DemoClient, *, task_status: trio.TaskStatus[None]) -> None:
        try:
            async with client:
                task_status.started()
                await self.hang_up.wait()
        finally:
            self.client_done.set()

    async def reach_research(self) -> str:
        assert self.voice is not None
        self.session = session = await self.voice.next_session()
        await session.ui.researcher_ready.wait()
        if not session.proxy.connected:
            raise StepFailed("the proxy client is not connected")
        return (
            f"'{session.proxy.name}' connected; 'research' registered on "
            f"'{session.runner.name}' from 'research-host'"
        )

    async def refuse_stranger(self) -> str:
        assert self.report.research_url is not None
        refused_before = self.research.refused
        try:
            async with open_client_socket(self.report.research_url, connect_timeout=5.0):
                pass
        except ConnectError as exc:
            if exc.status != 401 or self.research.refused != refused_before + 1:
                raise StepFailed(f"refused, but not as expected: {exc}") from None
            return "a handshake without the token got HTTP 401, and no WebSocket"
        raise StepFailed("a client without the token was let in")

    async def speak(self) -> str:
        client, session = self.client, self.session
        assert client is not None and session is not None
        replies_before = session.echo.replies
        envelopes_before = len(client.protocol.envelopes)
        utterance = utterance_chunk(self.config.utterance_seconds)
        reply = await client.call(utterance)
        record = client.last_turn
        assert record is not None
        sent, received = utterance.duration_seconds, reply.duration_seconds
        self.report.turn = TurnFigures(
            sent_s=sent,
            received_s=received,
            chunks=record.chunk_count,
            first_audio_after_start_s=(
                None if record.first_audio_at is None else record.first_audio_at - record.started_at
            ),
            latency_s=record.latency,
            ended_by=str(record.reason),
        )
        self.report.pacing = pacing_errors(client.protocol.arrivals)
        if record.reason != TurnEndReason.VOICE_ENDED:
            raise StepFailed(f"the client's turn ended by {record.reason}, not by voice activity")
        if record.latency is None or record.latency <= 0:
            raise StepFailed("the bot did not wait for the user to stop before answering")
        if session.echo.replies != replies_before + 1:
            raise StepFailed(f"the bot took {session.echo.replies - replies_before} turns, not 1")
        if received < 0.9 * sent:
            raise StepFailed(f"the echo was short: received {received:.2f} s of {sent:.2f} s")
        # The bot's own account of the turn, in order (its stop event may still be coming).
        await client.expect(lambda e: e.get("type") == "bot-stopped-speaking")
        said = [
            e["type"] for e in client.protocol.envelopes[envelopes_before:] if e["type"] in _TURN
        ]
        if said != list(_TURN):
            raise StepFailed(f"the bot's speaking events were {said}, not {list(_TURN)}")
        # The reply's last quiet chunk or two, still queued when the client's VAD (quicker
        # than the bot's) ended the turn: read now, so that the next step starts afresh.
        with contextlib.suppress(TimeoutError):
            while True:
                await client.recv_audio(0.05)
        return (
            f"spoke {sent:.2f} s, bot answered {record.latency:.2f} s after you stopped, "
            f"heard {received:.2f} s back, turn ended by voice activity"
        )

    async def barge_in(self) -> str:
        client, session = self.client, self.session
        assert client is not None and session is not None
        protocol, config = client.protocol, self.config
        replies_before = session.echo.replies
        question = utterance_chunk(config.barge_in_seconds)
        await client.send_audio(question)
        heard = (await client.recv_audio(client.response_timeout)).duration_seconds
        while heard < config.barge_in_after:
            heard += (await client.recv_audio(1.0)).duration_seconds
        envelopes_before = len(protocol.envelopes)
        heard_at_cut, cut_in_at = heard, trio.current_time()
        interruption = utterance_chunk(config.barge_in_seconds)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_audio, interruption)
            try:  # the rest of the cut reply; a gap this long means the bot went quiet
                while True:
                    heard += (await client.recv_audio(_REPLY_GAP)).duration_seconds
            except TimeoutError:
                pass
            cut_reply = list(protocol.arrivals)  # the answer to the interruption comes later
        interrupted = [
            at
            for envelope, at in zip(
                protocol.envelopes[envelopes_before:],
                protocol.envelope_times[envelopes_before:],
                strict=True,
            )
            if envelope["type"] == "bot-interrupted"
        ]
        if not interrupted:
            raise StepFailed("the bot never said it was interrupted (no bot-interrupted)")
        if heard >= question.duration_seconds:  # a whole echo is at least the question
            raise StepFailed(f"the reply was not cut: heard {heard:.2f} s of it")
        last_chunk_at = cut_reply[-1][0]
        late = sum(1 for at, _ in cut_reply if at > interrupted[0])
        if late > _LATE_CHUNKS:
            raise StepFailed(f"{late} chunks of the reply still came after bot-interrupted")
        answer = await client.call(None)  # the interruption is a turn: echoed when it ends
        if client.last_turn_end_reason != TurnEndReason.VOICE_ENDED:
            raise StepFailed(f"the answer ended by {client.last_turn_end_reason}")
        if answer.duration_seconds < 0.9 * interruption.duration_seconds:
            raise StepFailed(f"the answer was short: {answer.duration_seconds:.2f} s")
        if session.echo.replies != replies_before + 2:
            raise StepFailed(f"the bot took {session.echo.replies - replies_before} turns, not 2")
        self.report.barge_in = BargeInFigures(
            cut_in_after_s=heard_at_cut,
            stopped_after_s=last_chunk_at - cut_in_at,
            chunks_after_interruption=late,
            reply_heard_s=heard,
            answer_s=answer.duration_seconds,
        )
        return (
            f"cut in after {heard_at_cut:.2f} s of the reply; its audio stopped "
            f"{last_chunk_at - cut_in_at:.2f} s later ({chunks(late)} after bot-interrupted), "
            f"then it echoed the interruption ({answer.duration_seconds:.2f} s)"
        )

    async def run_job_group(self) -> str:
        client, session = self.client, self.session
        assert client is not None and session is not None
        await client.send_rtvi(
            rtvi("ui-event", "m1", {"event": "research", "payload": {"query": self.config.query}})
        )
        started = await client.expect(job_group_kind("group_started"))
        job_id = started["data"]["job_id"]
        if started["data"].get("workers") != ["research"]:
            raise StepFailed(f"unexpected group: {short(started)}")
        await client.expect(job_group_kind("group_completed"))
        toast = await client.expect(is_toast)
        mine = [
            e for e in client.protocol.envelopes if (e.get("data") or {}).get("job_id") == job_id
        ]
        updates = [e for e in mine if e["data"]["kind"] == "job_update"]
        answers = [e for e in mine if e["data"]["kind"] == "job_completed"]
        if len(answers) != 1 or answers[0]["data"].get("status") != "completed":
            raise StepFailed(f"expected one completed job, got {[short(a) for a in answers]}")
        results = (answers[0]["data"].get("response") or {}).get("results") or []
        self.report.jobs_run = self.research.researcher.jobs_run
        self.report.job_updates = len(updates)
        self.report.job_results = len(results)
        if self.research.researcher.jobs_run != 1 or session.proxy.stats.sent < 1:
            raise StepFailed("the job did not run on the research host through the proxy")
        title = toast["data"]["payload"].get("title")
        return (
            f"group {started['data'].get('label')!r}: {len(updates)} updates, "
            f"{len(results)} results, toast {title!r}"
        )

    async def hang_up_client(self) -> str:
        session = self.session
        assert session is not None
        self.hang_up.set()
        await self.client_done.wait()
        await session.finished.wait()
        if session.outcome != "returned":
            raise StepFailed(f"the session's runner did not finish by itself: {session.outcome}")
        for gateway in self.research.gateways:
            await gateway.wait()  # the proxy server saw its client leave
        return f"session runner finished; {len(self.research.gateways)} proxy server(s) finished"

    async def shut_down(self) -> str:
        await self.research.runner.end(reason="demo over")
        await self.research_runner.done.wait()
        if self.research_runner.outcome != "returned":
            raise StepFailed(
                f"the research runner did not end gracefully: {self.research_runner.outcome}"
            )
        for server in (self.voice_server, self.research_server):
            await server.stop()
            if server.outcome not in ("cancelled", "returned"):
                raise StepFailed(f"a server did not stop cleanly: {server.outcome}")
        for port in self.ports:
            if await _listening(port):
                raise StepFailed(f"port {port} still accepts connections")
        return "research runner ended gracefully; both Hypercorn servers stopped"

    def count_messages(self) -> None:
        """Fill the report's message counts from the taps and counters."""
        counts: dict[str, dict[str, int]] = {}
        if self.session is not None:
            counts["voice session bus"] = dict(self.session.tap.by_source.most_common())
            stats = self.session.proxy.stats
            counts["proxy socket"] = {"sent": stats.sent, "received": stats.received}
        counts["research host bus"] = dict(self.research.tap.by_source.most_common())
        if self.client is not None:
            protocol = self.client.protocol
            counts["client socket"] = {"sent": protocol.sent, "received": protocol.received}
        self.report.messages = counts


class _Steps:
    """Runs steps with their limits, records them, shows them."""

    def __init__(self, report: DemoReport, progress: Progress, config: DemoConfig) -> None:
        self.report = report
        self.progress = progress
        self.config = config
        self.deadline = trio.current_time() + config.timeout

    @asynccontextmanager
    async def step(self, name: str, *, overall: bool = True) -> AsyncIterator[StepResult]:
        """Run the body as step ``name`` (``overall``: within the demo's overall limit)."""
        result = StepResult(name, ok=False)
        self.progress.begin(name)
        started = trio.current_time()
        limit = self.config.step_timeout
        if overall:
            limit = min(limit, self.deadline - started)
        try:
            with trio.fail_after(max(limit, 0.0)):
                yield result
            result.ok = True
        except trio.TooSlowError:
            whole = overall and self.deadline - started <= self.config.step_timeout
            result.detail = f"timed out after {limit:.1f} s" + (
                " (the demo's overall limit)" if whole else ""
            )
        except StepFailed as exc:
            result.detail = str(exc)
        except Exception as exc:  # any other failure is this step's, in one line
            result.detail = f"{type(exc).__name__}: {exc}"
        except BaseException:  # cancelled from outside: the hard limit
            result.detail = "cancelled (the demo's overall limit)"
            raise
        finally:
            result.seconds = trio.current_time() - started
            self.report.steps.append(result)
            self.progress.end(result)

    async def run(self, name: str, fn: Callable[[], Awaitable[str]]) -> bool:
        async with self.step(name) as result:
            result.detail = await fn()
        return self.report.steps[-1].ok


async def run_demo(
    config: DemoConfig | None = None, progress: Progress | None = None
) -> DemoReport:
    """Run the demo; the report says what worked (``report.ok``)."""
    config = config or DemoConfig()
    progress = progress or Progress()
    report = DemoReport()
    steps = _Steps(report, progress, config)
    tasks_before, sockets_before = _live_tasks(), _open_sockets()
    # A hard bound on top of the per-step limits: teardown itself cannot hang.
    with trio.move_on_after(config.timeout + 10):
        async with trio.open_nursery() as nursery:
            demo = _Demo(config, report, nursery)
            script = [
                ("research host up", demo.start_research_host),
                ("voice bot up", demo.start_voice_bot),
                ("client connected", demo.connect_client),
                ("proxy reaches research", demo.reach_research),
                ("proxy refuses a stranger", demo.refuse_stranger),
                ("voice turn (VAD)", demo.speak),
                ("barge-in", demo.barge_in),
                ("UI job group on the proxied worker", demo.run_job_group),
                ("client hung up", demo.hang_up_client),
                ("servers shut down", demo.shut_down),
            ]
            for name, fn in script:
                if not await steps.run(name, fn):
                    break
            demo.count_messages()
            nursery.cancel_scope.cancel()  # after a failure: whatever is still running

    # Checked whatever happened before, even past the overall limit.
    async with steps.step("nothing left running", overall=False) as result:
        left = _live_tasks() - tasks_before
        sockets_after = _open_sockets()
        report.leftover_tasks = [task.name for task in left]
        if sockets_before is not None and sockets_after is not None:
            report.leftover_sockets = len(sockets_after - sockets_before)
        if left or report.leftover_sockets:
            raise StepFailed(
                f"{len(left)} tasks and {report.leftover_sockets or 0} sockets left running"
            )
        result.detail = "no task or socket beyond those there before"
    return report
