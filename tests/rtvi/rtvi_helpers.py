"""The RTVI test rig: an RTVIProcessor in a running pipeline, a recorder after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing

from trio_pipe.frames import InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from trio_pipe.pipeline import Pipeline, PipelineTask
from trio_pipe.processors import FrameDirection
from trio_pipe.rtvi import RTVIProcessor
from trio_pipe.testing.pipeline import FrameRecorder

UP = FrameDirection.UPSTREAM


@attrs.define
class Rig:
    task: PipelineTask
    rtvi: RTVIProcessor
    after: FrameRecorder

    async def client_sends(self, *messages: Any) -> None:
        # The input transport broadcasts client messages; the upstream copy reaches RTVI.
        for message in messages:
            await self.task.queue_frame(InputTransportMessageFrame(message=message), UP)
        await trio.testing.wait_all_tasks_blocked()

    def sent(self) -> list[dict[str, Any]]:
        return [f.message for f in self.after.frames(OutputTransportMessageUrgentFrame)]


@asynccontextmanager
async def rig(rtvi: RTVIProcessor | None = None) -> AsyncIterator[Rig]:
    rtvi = rtvi or RTVIProcessor()
    after = FrameRecorder()
    task = PipelineTask(Pipeline([rtvi, after]))
    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        yield Rig(task, rtvi, after)
        await task.cancel()


def msg(type_: str, data: Any = None, msg_id: str = "m1") -> dict[str, Any]:
    return {"label": "rtvi-ai", "type": type_, "id": msg_id, "data": data}
