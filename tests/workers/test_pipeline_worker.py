"""PipelineWorker: lifecycle with the runner (R3), bridged frames, the bus bridge processor."""

from __future__ import annotations

import trio
from pipeline_helpers import ClientInput, ClientOutput, start_session
from worker_helpers import Spy, record_events, settle, start_runner

from trio_pipe.bus.messages import (
    BusEndWorkerMessage,
    BusFrameMessage,
    BusWorkerReadyMessage,
)
from trio_pipe.frames import CancelFrame, EndFrame, StartFrame, TextFrame
from trio_pipe.pipeline import Pipeline
from trio_pipe.processors import FrameDirection
from trio_pipe.testing.pipeline import FrameRecorder
from trio_pipe.workers import WorkerRunner
from trio_pipe.workers.bridge_processor import BusBridgeProcessor
from trio_pipe.workers.pipeline_worker import PipelineWorker

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM


async def test_ready_once_the_pipeline_started_and_done_when_it_ends(nursery: trio.Nursery) -> None:
    recorder = FrameRecorder()
    worker = PipelineWorker(Pipeline([recorder]), name="voice")
    log = record_events(worker, "on_pipeline_started", "on_pipeline_finished")
    spy = Spy()
    runner = WorkerRunner(handle_sigint=False)
    runner.bus.subscribe(spy)
    await runner.add_workers(worker)
    async with trio.open_nursery() as inner:
        inner.start_soon(runner.run)
        await settle()
        assert recorder.frames(StartFrame)  # the pipeline is running...
        assert spy.of(BusWorkerReadyMessage)[0].source == "voice"  # ...and the worker ready
        await worker.queue_frame(TextFrame(text="hi"))
        await worker.stop_when_done()
    # auto_end: the only root worker finished with its pipeline, so the runner returned
    assert [f.text for f in recorder.frames(TextFrame)] == ["hi"]
    assert worker.has_finished() and worker.finished
    assert [e[0] for e in log] == ["on_pipeline_started", "on_pipeline_finished"]
    assert isinstance(log[1][1], EndFrame)


async def test_runner_end_finishes_the_pipeline_with_an_end_frame(live_tasks) -> None:
    before = live_tasks()
    worker = PipelineWorker(Pipeline([FrameRecorder()]), name="voice")
    log = record_events(worker, "on_pipeline_finished")
    spy = Spy()
    async with trio.open_nursery() as nursery:
        runner = await start_runner(nursery, worker)
        runner.bus.subscribe(spy)
        await runner.end("bye")
    [(_, frame)] = log
    assert isinstance(frame, EndFrame) and frame.reason == "bye"
    assert [(m.target, m.reason) for m in spy.of(BusEndWorkerMessage)] == [("voice", "bye")]
    assert live_tasks() <= before


async def test_runner_cancel_finishes_the_pipeline_with_a_cancel_frame(live_tasks) -> None:
    before = live_tasks()
    worker = PipelineWorker(Pipeline([FrameRecorder()]), name="voice")
    log = record_events(worker, "on_pipeline_finished")
    async with trio.open_nursery() as nursery:
        runner = await start_runner(nursery, worker)
        await runner.cancel("stop")
    [(_, frame)] = log
    assert isinstance(frame, CancelFrame) and frame.reason == "stop"
    assert live_tasks() <= before


async def test_cancelling_from_outside_leaves_nothing(live_tasks) -> None:
    before = live_tasks()
    async with trio.open_nursery() as nursery:
        s = await start_session(nursery)
        await s.client_sends({"label": "rtvi-ai", "type": "client-ready", "id": "c"})
        nursery.cancel_scope.cancel()
    assert s.worker.has_finished()
    assert live_tasks() <= before


async def test_cancel_is_the_pipelines(nursery: trio.Nursery) -> None:
    s = await start_session(nursery)
    await s.worker.cancel(reason="x")
    await settle()
    assert s.worker.has_finished() and s.worker.finished


async def test_bridged_workers_exchange_frames(nursery: trio.Nursery) -> None:
    a_rec, b_rec = FrameRecorder(), FrameRecorder()
    a = PipelineWorker(Pipeline([a_rec]), name="a", bridged=())
    b = PipelineWorker(Pipeline([b_rec]), name="b", bridged=("tagged",))
    plain_rec = FrameRecorder()
    plain = PipelineWorker(Pipeline([plain_rec]), name="plain")
    runner = await start_runner(nursery, a, b, plain)
    spy = Spy()
    runner.bus.subscribe(spy)
    assert a.bridged and not plain.bridged
    await a.queue_frame(TextFrame(text="from a"))
    await settle()
    # a's sink edge published it; a (own source) and plain (not bridged) ignore it;
    # b only takes frames tagged "tagged".
    [sent] = spy.of(BusFrameMessage)
    assert (sent.source, sent.direction, sent.frame.text) == ("a", DOWN, "from a")
    assert [f.text for f in a_rec.frames(TextFrame)] == ["from a"]
    assert b_rec.frames(TextFrame) == [] and plain_rec.frames(TextFrame) == []
    runner.bus.send(
        BusFrameMessage(frame=TextFrame(text="tagged"), direction=DOWN, bridge="tagged", source="x")
    )
    runner.bus.send(BusFrameMessage(frame=TextFrame(text="up"), direction=UP, source="x"))
    await settle()
    assert [f.text for f in b_rec.frames(TextFrame)] == ["tagged"]
    # a takes frames from any bridge (b's sink edge republishes "tagged" too), each in
    # its own direction
    texts = {(r.frame.text, r.direction) for r in a_rec.records if isinstance(r.frame, TextFrame)}
    assert texts == {("from a", DOWN), ("tagged", DOWN), ("up", UP)}
    # lifecycle frames never crossed
    assert all(not isinstance(m.frame, StartFrame | EndFrame) for m in spy.of(BusFrameMessage))


async def test_the_bus_bridge_processor_sends_and_receives(nursery: trio.Nursery) -> None:
    runner = await start_runner(nursery)
    before, after = FrameRecorder(), FrameRecorder()
    bridge = BusBridgeProcessor(bus=runner.bus, worker_name="voice", bridge="b1")
    worker = PipelineWorker(
        Pipeline([ClientInput(), before, bridge, after, ClientOutput()]), name="voice"
    )
    spy = Spy()
    runner.bus.subscribe(spy)
    await runner.add_workers(worker)
    await settle()
    await worker.queue_frame(TextFrame(text="to the bus"))
    await settle()
    [out] = spy.of(BusFrameMessage)
    assert (out.source, out.bridge, out.frame.text) == ("voice", "b1", "to the bus")
    assert after.frames(TextFrame) == []  # consumed by the bridge
    assert after.frames(StartFrame)  # lifecycle frames pass on locally
    for message in (
        BusFrameMessage(frame=TextFrame(text="own"), direction=DOWN, bridge="b1", source="voice"),
        BusFrameMessage(
            frame=TextFrame(text="other bridge"), direction=DOWN, bridge="b2", source="llm"
        ),
        BusFrameMessage(
            frame=TextFrame(text="for someone else"),
            direction=DOWN,
            bridge="b1",
            source="llm",
            target="x",
        ),
        BusFrameMessage(frame=TextFrame(text="reply"), direction=DOWN, bridge="b1", source="llm"),
        BusFrameMessage(frame=TextFrame(text="back up"), direction=UP, bridge="b1", source="llm"),
    ):
        runner.bus.send(message)
    await settle()
    assert [f.text for f in after.frames(TextFrame)] == ["reply"]
    assert [f.text for f in before.frames(TextFrame, UP)] == ["back up"]
    await runner.end()
    await settle()
    assert bridge not in runner.bus.subscribers


async def test_a_finished_worker_is_not_bridged_any_more(nursery: trio.Nursery) -> None:
    rec = FrameRecorder()
    worker = PipelineWorker(Pipeline([rec]), name="a", bridged=())
    runner = await start_runner(
        nursery, worker, PipelineWorker(Pipeline([FrameRecorder()]), name="keep")
    )
    await worker.stop_when_done()
    await settle()
    runner.bus.send(BusFrameMessage(frame=TextFrame(text="late"), direction=DOWN, source="x"))
    await settle()
    assert rec.frames(TextFrame) == []


def test_properties() -> None:
    pipeline = Pipeline([FrameRecorder()])
    worker = PipelineWorker(pipeline, name="w")
    assert worker.pipeline is pipeline
    assert worker.task.pipeline is not pipeline  # wrapped with the RTVI processor
    assert worker.rtvi is not None
    assert not worker.bridged
