"""The demo's two servers: a research host behind the WebSocket proxy, and a voice bot.

Each is a Starlette app that ``serve_asgi`` runs under Hypercorn, as it would run on its
own machine; the demo serves both in one process.

* :class:`ResearchHost`: a runner with the :class:`Researcher` job worker (the UI jobs
  bot's searcher, ``trio_pipe.apps.bots.ui_jobs``); its
  ``/proxy`` endpoint checks the handshake (a bearer token, made per run) and serves each
  connection with a :class:`~trio_pipe.workers.proxy.WebSocketProxyServer` in front of
  ``research``.
* :class:`VoiceHost`: its ``/voice`` endpoint runs one session per connection, on a
  runner and bus of its own: a :class:`~trio_pipe.workers.PipelineWorker` ``voice``
  (trio_pipe's server transport around the turn-taking echo of
  ``trio_pipe.apps.bots.turn_echo``: VAD, user turns, barge-in; it owns the client's
  RTVI), the
  :class:`DemoUI` UIWorker ``ui`` (the UI jobs bot's, whose ``research`` event runs a
  job group the client watches), and a
  :class:`~trio_pipe.workers.proxy.WebSocketProxyClient` that reaches ``research`` on the
  research host.

Every bus gets a :class:`BusTap` that counts messages by sender, for the report.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from functools import partial
from typing import Any

import attrs
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.apps.bots.turn_echo import TurnEchoProcessor, turn_echo_stages
from trio_pipe.apps.bots.ui_jobs import ResearchUI, Searcher
from trio_pipe.bus.messages import BusJobRequestMessage, BusMessage, WorkerReadyData
from trio_pipe.pipeline import Pipeline, PipelineParams
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.transports.websocket.server import FastAPIWebsocketParams, FastAPIWebsocketTransport
from trio_pipe.workers import PipelineWorker, WorkerRunner, worker_ready
from trio_pipe.workers.proxy import (
    WebSocketProxyClient,
    WebSocketProxyServer,
    accept_proxy_websocket,
)

__all__ = ["BusTap", "DemoUI", "ResearchHost", "Researcher", "VoiceHost", "VoiceSession"]

logger = logging.getLogger(__name__)


def describe_ending(exc: BaseException) -> str:
    """How a run that raised ``exc`` ended, in a few words: "cancelled" or "failed (...)"."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, trio.Cancelled):
        return "cancelled"
    return f"failed ({type(exc).__name__}: {exc})"


class BusTap:
    """A bus subscriber that only counts: messages seen, by sender."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_source: Counter[str] = Counter()

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Every message."""
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        """Count it under its sender."""
        self.by_source[message.source or "?"] += 1


class Researcher(Searcher):
    """The demo bot's searcher (progress updates, then results), counting the jobs it ran."""

    def __init__(self, name: str = "research", *, steps: int = 3, delay: float = 0.05) -> None:
        super().__init__(name, steps=steps, delay=delay)
        self.jobs_run = 0

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """Search, then count the job."""
        await super().on_job_request(message)
        self.jobs_run += 1


class DemoUI(ResearchUI):
    """The demo bot's UI worker, with one searcher (on another host) it waits for."""

    def __init__(self, name: str = "ui") -> None:
        super().__init__(name, searchers=("research",))
        self.researcher_ready = trio.Event()

    @worker_ready(name="research")
    async def on_research_ready(self, data: WorkerReadyData) -> None:
        """The researcher registered (through the proxy's registry message)."""
        self.researcher_ready.set()


@attrs.define
class ResearchHost:
    """The research runner and the proxy endpoint in front of it."""

    token: str = attrs.Factory(lambda: secrets.token_urlsafe(16))
    researcher: Researcher = attrs.Factory(Researcher)
    runner: WorkerRunner = attrs.Factory(
        lambda: WorkerRunner(name="research-host", handle_sigint=False)
    )
    tap: BusTap = attrs.Factory(lambda: BusTap("research-tap"))
    gateways: list[WebSocketProxyServer] = attrs.Factory(list)
    refused: int = 0

    def app(self) -> Starlette:
        """The ``/proxy`` endpoint: token check, then a proxy server per connection."""
        return Starlette(routes=[WebSocketRoute("/proxy", self._endpoint)])

    def _authorized(self, headers: Any) -> bool:
        ok = secrets.compare_digest(headers.get("authorization", ""), f"Bearer {self.token}")
        if not ok:
            self.refused += 1  # counted before the 401 goes out, so its client sees it
        return ok

    async def _endpoint(self, websocket: WebSocket) -> None:
        if not await accept_proxy_websocket(websocket, authorize=self._authorized):
            return
        gateway = WebSocketProxyServer(
            f"gateway-{len(self.gateways) + 1}",
            websocket=websocket,
            worker_name=self.researcher.name,
            remote_worker_name=websocket.query_params.get("worker", "ui"),
        )
        self.gateways.append(gateway)
        await self.runner.add_workers(gateway)
        await gateway.wait()  # until the client leaves (or the host stops)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the research runner until it is ended or cancelled."""
        await self.runner.add_workers(self.researcher)
        self.runner.bus.subscribe(self.tap)
        # auto_end=False: a server runs until told, whatever its gateways do.
        await self.runner.run(auto_end=False, task_status=task_status)


@attrs.define
class VoiceSession:
    """One client connection on the voice host."""

    runner: WorkerRunner
    voice: PipelineWorker
    echo: TurnEchoProcessor
    """The turn-taking echo stage (``replies``: user turns it answered)."""
    ui: DemoUI
    proxy: WebSocketProxyClient
    tap: BusTap
    finished: trio.Event = attrs.Factory(trio.Event)
    outcome: str | None = None
    """How its runner ended, once ``finished``: "returned", "cancelled" or "failed (...)"."""


@attrs.define
class VoiceHost:
    """The voice bot: one session (runner, bus, workers) per WebSocket connection."""

    research_url: str
    token: str
    sessions: list[VoiceSession] = attrs.Factory(list)
    _new: trio.MemorySendChannel[VoiceSession] | None = None
    _new_in: trio.MemoryReceiveChannel[VoiceSession] | None = None

    def __attrs_post_init__(self) -> None:
        self._new, self._new_in = trio.open_memory_channel[VoiceSession](16)

    def app(self) -> Starlette:
        """The ``/voice`` endpoint."""
        return Starlette(routes=[WebSocketRoute("/voice", self._endpoint)])

    async def next_session(self) -> VoiceSession:
        """The next session to start (its runner is running)."""
        assert self._new_in is not None
        return await self._new_in.receive()

    def _session(self, websocket: WebSocket) -> tuple[VoiceSession, FastAPIWebsocketTransport]:
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                serializer=ProtobufFrameSerializer(),
                allowed_origins=[],
            ),
        )
        stages = turn_echo_stages(transport)
        echo = next(s for s in stages if isinstance(s, TurnEchoProcessor))
        pipeline = Pipeline(stages)
        voice = PipelineWorker(
            pipeline,
            name="voice",
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
        )
        ui = DemoUI("ui")
        proxy = WebSocketProxyClient(
            "research-proxy",
            url=f"{self.research_url}?worker={ui.name}",
            remote_worker_name="research",
            local_worker_name=ui.name,
            headers={"Authorization": f"Bearer {self.token}"},
            active=True,
        )
        runner = WorkerRunner(name=f"voice-session-{len(self.sessions) + 1}", handle_sigint=False)
        tap = BusTap("voice-tap")
        runner.bus.subscribe(tap)
        return VoiceSession(runner, voice, echo, ui, proxy, tap), transport

    async def _endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        session, transport = self._session(websocket)
        self.sessions.append(session)
        runner = session.runner
        await runner.add_workers(session.voice, session.ui, session.proxy)

        @transport.event_handler("on_client_disconnected")
        async def _gone(transport: Any, websocket: WebSocket) -> None:
            await runner.cancel(reason="client left")

        assert self._new is not None
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(runner.run))
                self._new.send_nowait(session)
        except BaseException as exc:
            session.outcome = describe_ending(exc)
            raise
        else:
            session.outcome = "returned"
        finally:
            session.finished.set()
