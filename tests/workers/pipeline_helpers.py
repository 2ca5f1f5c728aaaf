"""Helpers for PipelineWorker tests: a fake client edge, and a session on a runner."""

from __future__ import annotations

from typing import Any

import attrs
import trio
from worker_helpers import Spy, settle, start_runner

from trio_pipe.bus.ui import BusUIEventMessage
from trio_pipe.frames import (
    Frame,
    InputTransportMessageFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from trio_pipe.pipeline import Pipeline
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.workers.pipeline_worker import PipelineWorker


class ClientInput(FrameProcessor):
    """Stands for an input transport: what the client sends is broadcast both ways."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    async def receive(self, message: Any) -> None:
        await self.broadcast_frame(InputTransportMessageFrame, message=message)


class ClientOutput(FrameProcessor):
    """Stands for an output transport: records the messages that would reach the client."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputTransportMessageUrgentFrame | OutputTransportMessageFrame):
            self.sent.append(frame.message)
        else:
            await self.push_frame(frame, direction)


@attrs.define
class Session:
    """A PipelineWorker named ``voice`` with a fake client, on a running runner."""

    runner: Any
    worker: PipelineWorker
    client_in: ClientInput
    client_out: ClientOutput
    spy: Spy

    async def client_sends(self, *messages: Any) -> None:
        for message in messages:
            await self.client_in.receive(message)
        await settle()

    def received(self) -> list[Any]:
        """What the client was sent, in order."""
        return self.client_out.sent

    def bus_events(self) -> list[BusUIEventMessage]:
        return self.spy.of(BusUIEventMessage)


async def start_session(
    nursery: trio.Nursery, *others: Any, name: str = "voice", **worker_kwargs: Any
) -> Session:
    client_in, client_out = ClientInput(), ClientOutput()
    worker = PipelineWorker(Pipeline([client_in, client_out]), name=name, **worker_kwargs)
    runner = await start_runner(nursery, worker, *others)
    spy = Spy()
    runner.bus.subscribe(spy)
    await settle()
    return Session(runner, worker, client_in, client_out, spy)


def rtvi(type_: str, data: Any = None, msg_id: str = "m1") -> dict[str, Any]:
    """A client RTVI message."""
    message: dict[str, Any] = {"label": "rtvi-ai", "type": type_, "id": msg_id}
    if data is not None:
        message["data"] = data
    return message
