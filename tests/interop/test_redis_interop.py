"""A trio_pipe process and a Pipecat 1.14 process exchange jobs over one Redis channel.

The Pipecat side (``pipecat_redis_peer.py``) runs a real ``WorkerRunner`` on Pipecat's
``RedisBus`` in its own interpreter (``PIPECAT_PYTHON``, with the ``redis`` extra). Two
directions:

* plain bus messages from our ``RedisBus`` run a job on a Pipecat worker: we see its
  registry snapshot, its update and its response, all decoded from Pipecat's bytes;
* a Pipecat worker runs ``self.job("trio-worker", ...)`` against a trio_pipe
  ``WorkerRunner`` on our ``RedisBus``: the runners exchange registry snapshots, and the
  Pipecat requester gets our update and response.

The Pipecat process runs through the shared harness (``tests/interop/conftest.py``).
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import coredis
import pytest
import trio
from required_services import NO_REDIS, missing

from trio_pipe.bus.messages import (
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerRegistryMessage,
    JobStatus,
)
from trio_pipe.bus.redis import RedisBus
from trio_pipe.workers import BaseWorker, WorkerRunner, job

PEER = Path(__file__).with_name("pipecat_redis_peer.py")
LIMIT = 30  # a safety net against a hang, not a timing assertion


@pytest.fixture(scope="module")
def pipecat_redis(pipecat):
    """The shared Pipecat peer (tests/interop/conftest.py), if it has the redis extra."""
    try:
        pipecat.run_json("import json, redis.asyncio; print(json.dumps(1))")
    except pipecat.Error:
        missing(
            "the Pipecat peer lacks its redis extra",
            "pip install 'pipecat-ai[websocket,redis]==1.14.0' into it (bash scripts/test does)",
            NO_REDIS,
        )
    return pipecat


class Inbox:
    """A plain subscriber: every message, to the test."""

    name = "inbox"

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[BusMessage](math.inf)

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        self._send.send_nowait(message)

    async def next_of(self, cls: type[BusMessage]) -> BusMessage:
        with trio.fail_after(LIMIT):
            while True:
                message = await self._receive.receive()
                if isinstance(message, cls):
                    return message


async def test_our_bus_messages_run_a_job_on_a_pipecat_worker(redis_server, pipecat_redis):
    channel = "interop:plain"
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=redis_server.port), channel=channel)
    inbox = Inbox()
    bus.subscribe(inbox)
    peer_args = ("serve", str(redis_server.port), channel)
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        # Our bus is subscribed before Pipecat's runner announces its worker.
        async with pipecat_redis.open(PEER, *peer_args, ready="ready"):
            # Pipecat's runner announces its worker once it is ready.
            registry = await inbox.next_of(BusWorkerRegistryMessage)
            while "pc-worker" not in [w.name for w in registry.workers]:
                registry = await inbox.next_of(BusWorkerRegistryMessage)
            assert registry.runner == "pc-runner"

            bus.send(
                BusJobRequestMessage(
                    source="trio-voice",
                    target="pc-worker",
                    job_id="job-1",
                    job_name="research",
                    payload={"query": "café"},
                )
            )
            update = await inbox.next_of(BusJobUpdateMessage)
            assert (update.source, update.target, update.job_id) == (
                "pc-worker",
                "trio-voice",
                "job-1",
            )
            assert update.update == {"progress": 0.5}
            response = await inbox.next_of(BusJobResponseMessage)
            assert (response.source, response.target) == ("pc-worker", "trio-voice")
            assert response.status is JobStatus.COMPLETED
            assert response.response == {"answer": "CAFÉ", "runtime": "pipecat"}
            assert bus.decode_errors == 0
        nursery.cancel_scope.cancel()


class TrioResearcher(BaseWorker):
    @job(name="research")
    async def research(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"progress": 0.5})
        query = (message.payload or {}).get("query", "")
        await self.send_job_response(message.job_id, {"answer": query.upper(), "runtime": "trio"})


async def test_a_pipecat_worker_runs_a_job_on_a_trio_pipe_worker(redis_server, pipecat_redis):
    channel = "interop:workers"
    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=redis_server.port), channel=channel)
    runner = WorkerRunner(name="trio-runner", bus=bus, handle_sigint=False)
    await runner.add_workers(TrioResearcher("trio-worker"))
    peer_args = ("request", str(redis_server.port), channel)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(runner.run, auto_end=False))
        async with pipecat_redis.open(PEER, *peer_args, ready="ready") as peer:
            result = await peer.read_json()
            assert "error" not in result, result
            assert result["response"] == {"answer": "ÜBER", "runtime": "trio"}
            assert result["events"] == [{"type": "update", "data": {"progress": 0.5}}]
            assert "pc-voice" in runner.registry.remote_workers
            assert bus.decode_errors == 0
        await runner.end("done")
        nursery.cancel_scope.cancel()
