"""Runs under Pipecat 1.14's interpreter (PIPECAT_PYTHON), not trio_pipe's.

    python pipecat_redis_peer.py serve   PORT CHANNEL
    python pipecat_redis_peer.py request PORT CHANNEL

A Pipecat ``WorkerRunner`` named ``pc-runner`` on a Pipecat ``RedisBus``:

* ``serve``: hosts ``pc-worker``, whose ``@job(name="research")`` handler sends one update
  and then responds ``{"answer": <query upper-cased>, "runtime": "pipecat"}``. Runs until
  killed.
* ``request``: hosts ``pc-voice``, which runs ``self.job("trio-worker", ...)`` as soon as it
  starts (waiting for the registry to list the remote worker), prints one JSON line with
  the events and the response, and ends the runner.

Prints ``ready`` once the runner is up.
"""

from __future__ import annotations

import asyncio
import json
import sys

from loguru import logger

logger.remove()  # stdout is the channel to the test

from pipecat.bus.network.redis import RedisBus  # noqa: E402
from pipecat.pipeline.job_context import JobParams  # noqa: E402
from pipecat.pipeline.job_decorator import job  # noqa: E402
from pipecat.workers.base_worker import BaseWorker  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402
from redis.asyncio import Redis  # noqa: E402


class Researcher(BaseWorker):
    @job(name="research")
    async def research(self, message):
        await self.send_job_update(message.job_id, {"progress": 0.5})
        query = (message.payload or {}).get("query", "")
        await self.send_job_response(
            message.job_id, {"answer": query.upper(), "runtime": "pipecat"}
        )


class Voice(BaseWorker):
    async def on_activated(self, args):
        await super().on_activated(args)
        self.create_task(self._ask())

    async def _ask(self):
        events = []
        params = JobParams(name="research", payload={"query": "über"}, timeout=20)
        try:
            async with self.job("trio-worker", params=params) as t:
                async for event in t:
                    events.append({"type": event.type, "data": event.data})
            result = {"events": events, "response": t.response}
        except Exception as exc:  # report, do not hang the test
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
        await self.worker_runner.end("done")


async def main() -> None:
    mode, port, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    bus = RedisBus(redis=Redis(host="127.0.0.1", port=port), channel=channel)
    runner = WorkerRunner(name="pc-runner", bus=bus, handle_sigint=False)
    worker = Researcher("pc-worker") if mode == "serve" else Voice("pc-voice")
    await runner.add_workers(worker)

    @runner.event_handler("on_ready")
    async def on_ready(runner):
        print("ready", flush=True)

    await runner.run(auto_end=False)


asyncio.run(main())
