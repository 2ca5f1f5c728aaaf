"""The UI protocol end to end over a real socket (A.7 checks 47 and 50).

A trio-websocket client speaks RTVI, in Pipecat's protobuf frames, to a Hypercorn-served
session: a PipelineWorker around the WebSocket server transport, a UIWorker that fans
research out to two job workers, on one bus (``trio_pipe.bots.ui_jobs``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bots.ui_jobs import run_ui_jobs_session
from trio_pipe.frames import InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.ws.client import open_client_socket

PB = ProtobufFrameSerializer()
EXAMPLE_CLIENT = Path(__file__).parents[2] / "examples" / "ui_jobs" / "client.py"


def session_app(ended: list[trio.Event], steps: dict[str, tuple[int, float]]) -> Starlette:
    """The demo's sessions, each reporting when its runner has returned."""

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        done = trio.Event()
        ended.append(done)
        try:
            await run_ui_jobs_session(websocket, steps=steps)
        finally:
            done.set()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


class Client:
    """The client's side: send RTVI messages, read envelopes."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.received: list[dict[str, Any]] = []

    async def send(self, type_: str, msg_id: str, data: Any = None) -> None:
        message = {"label": "rtvi-ai", "type": type_, "id": msg_id, "data": data}
        await self.sock.send(PB.encode(OutputTransportMessageUrgentFrame(message=message)))

    async def next(self) -> dict[str, Any]:
        with trio.fail_after(10):  # a hang guard, not a speed assertion
            while True:
                frame = PB.decode(await self.sock.receive())
                if isinstance(frame, InputTransportMessageFrame):
                    self.received.append(frame.message)
                    return frame.message


def group(envelope: dict[str, Any]) -> tuple[Any, ...]:
    data = envelope["data"]
    return (envelope["type"], data["kind"], data.get("worker_name"), data.get("status"))


async def test_a_client_drives_the_ui_over_a_real_socket(nursery: trio.Nursery) -> None:
    ended: list[trio.Event] = []
    # wiki answers at once; news would take 1000 s: the client cancels it
    served = await nursery.start(
        serve_asgi, session_app(ended, {"wiki": (1, 0.0), "news": (100, 10.0)})
    )
    async with open_client_socket(served.ws_url("/ws")) as sock:
        client = Client(sock)
        await client.send("client-ready", "c1", {"version": "2.2.0"})
        ready = await client.next()
        assert (ready["type"], ready["id"], ready["data"]["version"]) == (
            "bot-ready",
            "c1",
            "2.2.0",
        )

        # a ui-event triggers a handler that sends commands back
        await client.send("ui-event", "m1", {"event": "nav_click", "payload": {"view": "home"}})
        assert await client.next() == {
            "label": "rtvi-ai",
            "type": "ui-command",
            "data": {"command": "navigate", "payload": {"view": "home", "params": None}},
        }
        toast = await client.next()
        assert toast["data"]["command"] == "toast"
        assert toast["data"]["payload"]["title"] == "Opened home"

        # research fans out to two workers; the client cancels once wiki is done
        await client.send("ui-event", "m2", {"event": "research", "payload": {"query": "trio"}})
        started = await client.next()
        assert group(started) == ("ui-job-group", "group_started", None, None)
        assert started["data"]["workers"] == ["wiki", "news"]
        assert started["data"]["label"] == "Research: trio"
        assert started["data"]["cancellable"] is True
        job_id = started["data"]["job_id"]
        assert [group(await client.next()) for _ in range(2)] == [
            ("ui-job-group", "job_update", "wiki", None),
            ("ui-job-group", "job_completed", "wiki", "completed"),
        ]
        # news may have reported progress meanwhile; it is still running
        await client.send("ui-cancel-job-group", "m3", {"job_id": job_id, "reason": "enough"})
        rest = [await client.next()]
        while rest[-1]["type"] != "ui-command":
            rest.append(await client.next())
        lifecycle = [group(e) for e in rest[:-1] if e["data"].get("kind") != "job_update"]
        assert lifecycle == [
            ("ui-job-group", "job_completed", "news", "cancelled"),
            ("ui-job-group", "group_completed", None, None),
        ]
        assert rest[-1]["data"]["payload"]["title"] == "Research stopped"
        assert rest[-1]["data"]["payload"]["description"] == "enough"
        assert {e["data"]["job_id"] for e in client.received if e["type"] == "ui-job-group"} == {
            job_id
        }
        assert all("id" not in e for e in client.received[1:])  # server UI envelopes carry no id

        # bad input gets its error envelope and nothing else
        await client.send("ui-bogus", "m4", {})
        error = await client.next()
        assert (error["type"], error["id"], error["data"]["error"]) == (
            "error-response",
            "m4",
            "Unsupported type ui-bogus",
        )
    # the client left: the session's runner returns, with its workers and pipeline
    with trio.fail_after(10):
        await ended[0].wait()


async def test_the_example_client_script(nursery: trio.Nursery, live_tasks) -> None:
    spec = importlib.util.spec_from_file_location("ui_jobs_client", EXAMPLE_CLIENT)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    before = live_tasks()
    ended: list[trio.Event] = []
    async with trio.open_nursery() as server:
        served = await server.start(
            serve_asgi, session_app(ended, {"wiki": (2, 0.0), "news": (3, 0.0)})
        )
        lines: list[str] = []
        received = await example.play(served.ws_url("/ws"), cancel=False, show=lines.append)
        with trio.fail_after(10):
            await ended[0].wait()
        server.cancel_scope.cancel()
    kinds = [e["data"].get("kind") for e in received if e["type"] == "ui-job-group"]
    # updates and completions of the two workers interleave; the frame is fixed
    assert kinds[0] == "group_started" and kinds[-1] == "group_completed"
    assert sorted(kinds[1:-1]) == ["job_completed"] * 2 + ["job_update"] * 5
    assert received[-1]["data"]["payload"]["title"] == "Found 4 results"
    assert any(
        json.loads(line[4:])["type"] == "bot-ready" for line in lines if line.startswith("<<<")
    )
    assert live_tasks() <= before  # the served session left nothing running
