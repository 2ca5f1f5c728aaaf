"""BaseTransport: two halves, events run in a half's nursery."""

from __future__ import annotations

import pytest
import trio
from transport_fakes import FakeWriter, input_transport, output

from trio_pipe.pipeline import Pipeline, PipelineTask
from trio_pipe.transports.base import BaseTransport


class PairTransport(BaseTransport):
    def __init__(self) -> None:
        super().__init__(input_name="in", output_name="out")
        self._input = input_transport()
        self._output = output(writer=FakeWriter())
        self._register_event_handler("on_client_disconnected")
        self._bind_events(self._input)

    def input(self):
        return self._input

    def output(self):
        return self._output

    def disconnected(self) -> None:
        self._call_event_handler("on_client_disconnected", "peer")


async def test_handler_cancelling_the_task_completes(live_tasks) -> None:
    """T18's shape without a socket: the handler runs in the input's nursery."""
    before = live_tasks()
    transport = PairTransport()
    task = PipelineTask(Pipeline([transport.input(), transport.output()]))
    seen: list[str] = []

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(t: BaseTransport, who: str) -> None:
        await task.cancel()
        seen.append(who)

    async with trio.open_nursery() as nursery:
        await nursery.start(task.run)
        transport.disconnected()
    assert seen == ["peer"]
    assert task.has_finished()
    assert live_tasks() == before
    transport.disconnected()  # after the run: dropped, nothing starts
    assert str(transport).startswith("PairTransport#")


def test_base_halves_are_abstract() -> None:
    with pytest.raises(NotImplementedError):
        BaseTransport().input()
    with pytest.raises(NotImplementedError):
        BaseTransport().output()
