"""A UI-driven demo bot: a client's clicks start research that two workers do in parallel.

    app = ui_jobs_app()                            # a Starlette app, one session per /ws
    server = await nursery.start(serve_asgi, app)  # Hypercorn, in your nursery

Each WebSocket connection is one session, with its own runner and bus:

* ``voice``, a :class:`~trio_pipe.workers.pipeline_worker.PipelineWorker` around the
  server transport (Pipecat's protobuf frames), owns the client's RTVI: it answers
  ``client-ready`` and translates UI messages both ways;
* ``ui``, a :class:`ResearchUI`: on ``nav_click`` it sends ``navigate`` and ``toast``
  commands; on ``research`` it fans the query out to the two searchers as one job group
  the client watches (``ui-job-group`` envelopes) and may cancel
  (``ui-cancel-job-group``), then toasts the outcome;
* ``wiki`` and ``news``, two :class:`Searcher` job workers that report progress and
  answer after ``steps`` x ``delay`` seconds.

The session ends when the client leaves (the runner is cancelled). See
``examples/ui_jobs/`` for a script that plays the client.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bus.messages import BusJobRequestMessage
from trio_pipe.bus.ui import BusUIEventMessage
from trio_pipe.pipeline import Pipeline
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.transports.websocket.server import FastAPIWebsocketParams, FastAPIWebsocketTransport
from trio_pipe.workers import BaseWorker, JobGroupError, JobGroupParams, WorkerRunner
from trio_pipe.workers.pipeline_worker import PipelineWorker
from trio_pipe.workers.ui import Navigate, Toast, UIWorker, ui_event

__all__ = ["ResearchUI", "Searcher", "run_ui_jobs_session", "ui_jobs_app"]

logger = logging.getLogger(__name__)


class Searcher(BaseWorker):
    """A job worker: ``steps`` progress updates ``delay`` seconds apart, then its results."""

    def __init__(self, name: str, *, steps: int = 3, delay: float = 0.2) -> None:
        super().__init__(name)
        self.steps = steps
        self.delay = delay

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """Search for ``payload["query"]``, reporting progress."""
        query = (message.payload or {}).get("query", "")
        for step in range(1, self.steps + 1):
            await trio.sleep(self.delay)
            await self.send_job_update(message.job_id, {"progress": step / self.steps})
        await self.send_job_response(
            message.job_id, {"results": [f"{self.name}: {query} #{i}" for i in (1, 2)]}
        )


class ResearchUI(UIWorker):
    """Reacts to the client's clicks; research runs as a client-visible job group."""

    def __init__(self, name: str = "ui", *, searchers: tuple[str, ...] = ("wiki", "news")):
        super().__init__(name)
        self.searchers = searchers

    @ui_event("nav_click")
    async def on_nav(self, message: BusUIEventMessage) -> None:
        """Go to the view the client clicked, with a toast."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        view = str(payload.get("view", "home"))
        await self.send_command("navigate", Navigate(view=view))
        await self.send_command("toast", Toast(title=f"Opened {view}"))

    @ui_event("research")
    async def on_research(self, message: BusUIEventMessage) -> None:
        """Ask every searcher at once; the client sees the group and may cancel it."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        query = str(payload.get("query", ""))
        params = JobGroupParams(
            name="search", payload={"query": query}, label=f"Research: {query}", timeout=60
        )
        try:
            async with self.job_group(*self.searchers, params=params) as group:
                pass
        except JobGroupError as error:
            await self.send_command(
                "toast", Toast(title="Research stopped", description=str(error))
            )
            return
        found = sum(len(r.get("results", [])) for r in group.responses.values())
        await self.send_command("toast", Toast(title=f"Found {found} results"))


def _transport(websocket: WebSocket) -> FastAPIWebsocketTransport:
    return FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(serializer=ProtobufFrameSerializer(), allowed_origins=[]),
    )


async def run_ui_jobs_session(
    websocket: WebSocket, *, steps: dict[str, tuple[int, float]] | None = None
) -> None:
    """Run one session on an accepted ``websocket``; return when the client has left.

    ``steps`` maps a searcher's name to ``(steps, delay)`` (default ``wiki`` (2, 0.1) and
    ``news`` (5, 0.5)).
    """
    steps = steps or {"wiki": (2, 0.1), "news": (5, 0.5)}
    transport = _transport(websocket)
    voice = PipelineWorker(Pipeline([transport.input(), transport.output()]), name="voice")
    searchers = [Searcher(name, steps=n, delay=d) for name, (n, d) in steps.items()]
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(voice, ResearchUI("ui", searchers=tuple(steps)), *searchers)

    @transport.event_handler("on_client_disconnected")
    async def _gone(transport: Any, websocket: WebSocket) -> None:
        await runner.cancel(reason="client left")

    await runner.run()


def ui_jobs_app(
    *, path: str = "/ws", steps: dict[str, tuple[int, float]] | None = None
) -> Starlette:
    """A Starlette app serving the demo on ``path`` (one session per connection)."""

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_ui_jobs_session(websocket, steps=steps)

    return Starlette(routes=[WebSocketRoute(path, endpoint)])
