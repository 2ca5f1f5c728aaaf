"""Pipecat 1.14 spellings users depend on: ``processor.worker_runner``, the deprecated
``BusBridgeProcessor(target_task=...)`` and ``ui_job_group()``'s context (issue 13,
items 3 and 4)."""

from __future__ import annotations

import pytest
import trio
from worker_helpers import settle, start_runner

from trio_pipe.bus import BusBridgeProcessor, BusFrameMessage, LocalBus
from trio_pipe.frames import Frame, TextFrame
from trio_pipe.pipeline import Pipeline
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.workers import BaseWorker
from trio_pipe.workers.pipeline_worker import PipelineWorker
from trio_pipe.workers.ui import UIWorker


class AsksTheRunner(FrameProcessor):
    """Looks another worker up through its runner, as Pipecat's processors do."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[BaseWorker | None] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame):
            self.found.append(self.worker_runner.get_worker(frame.text))
        await self.push_frame(frame, direction)


async def test_a_processor_reaches_its_worker_and_runner(nursery: trio.Nursery) -> None:
    asks = AsksTheRunner()
    nested = Pipeline([Pipeline([asks])])  # however deep it sits
    voice, jobs = PipelineWorker(nested, name="voice"), BaseWorker("ui-jobs")
    with trio.fail_after(5):
        runner = await start_runner(nursery, voice, jobs)
        await voice.queue_frame(TextFrame(text="ui-jobs"))
        await settle()
    assert asks.pipeline_worker is voice
    assert asks.worker_runner is runner
    assert asks.found == [jobs]
    await runner.cancel()


def test_outside_a_worker_the_runner_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="does not run in a PipelineWorker"):
        _ = AsksTheRunner().worker_runner


def test_bus_bridge_processor_takes_target_task_as_a_deprecated_alias() -> None:
    bus = LocalBus()
    with pytest.warns(DeprecationWarning, match="target_task"):
        bridge = BusBridgeProcessor(bus=bus, worker_name="voice", target_task="brain")
    text = TextFrame(text="x")
    from_brain = BusFrameMessage(frame=text, direction=FrameDirection.DOWNSTREAM, source="brain")
    from_other = BusFrameMessage(frame=text, direction=FrameDirection.DOWNSTREAM, source="other")
    assert bridge.accepts_bus_message(from_brain)
    assert not bridge.accepts_bus_message(from_other)


def test_ui_job_group_context_has_label_and_cancellable() -> None:
    ui = UIWorker("ui")
    with pytest.warns(DeprecationWarning):
        context = ui.ui_job_group("a", "b", label="Searching", cancellable=False)
    assert (context.label, context.cancellable) == ("Searching", False)
    assert context.params.label == "Searching"
    plain = ui.job_group("a")
    assert (plain.label, plain.cancellable) == (None, True)
