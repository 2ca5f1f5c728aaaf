"""The proxy's wire, side by side: every pairing of trio_pipe and Pipecat 1.14 ends.

Run by ``python -m benchmarks.proxy_rtt`` (its ``wire`` section and ``wire_*`` speedups).

Pairings (server process, client process; loopback): trio_pipe <-> trio_pipe (Starlette under
Hypercorn, ``accept_proxy_websocket``: batching negotiated), Pipecat <-> Pipecat (FastAPI
under uvicorn), and the two mixed ones (our client against Pipecat's server, Pipecat's
client against ours: the plain wire). Workloads, each on a fresh pair of processes so
every session has the same length:

* ``seq``: sequential job round trips (``voice.job("worker")``, an echo job), p50/p99;
* ``jobs``: jobs with 50 outstanding, jobs/s;
* ``plain``: plain-message round trips with 50 outstanding (``BusTTSSpeakMessage`` to
  ``worker``, which sends one back to its source), round trips/s.

Rounds alternate between pairings; comparisons are medians of per-round ratios against
Pipecat <-> Pipecat, with min and max: as ``speedup`` entries (higher is better, like every
benchmark) and as trio_pipe ÷ Pipecat ratios, the form of issue 12's targets (p50: lower
is better; rates: higher is better).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from functools import partial
from typing import Any

from benchmarks._harness import (
    Metric,
    compare,
    field,
    percentile_of,
    percentiles,
    saturate,
    timed_round_trips,
)
from benchmarks.proxy_rtt import PIPECAT_SCRIPT, _pair

OUTSTANDING = 50
WARMUP = 200

# Pipecat's roles are benchmarks/proxy_rtt.py's (its server, its client loop, its echo job),
# with a plain-message echo added to its worker and, for the plain phase, a plain round trip
# in place of its job.
_RTT_ROLES, _dispatch, _ = PIPECAT_SCRIPT.partition('\nif ROLE == "server":')
assert _dispatch, "benchmarks/proxy_rtt.py's Pipecat script changed its role dispatch"
PIPECAT_ROLES = (
    _RTT_ROLES
    + r"""
from pipecat.bus.messages import BusTTSSpeakMessage

async def _echo_plain(self, message):
    await BaseWorker.on_bus_message(self, message)
    if isinstance(message, BusTTSSpeakMessage) and message.target == self.name:
        await self.send_bus_message(
            BusTTSSpeakMessage(text=message.text, source=self.name, target=message.source))

Echo.on_bus_message = _echo_plain

class Voice(BaseWorker):
    def __init__(self, name):
        super().__init__(name)
        self.waiting = {}
        self.connected = False

    async def on_bus_message(self, message):
        await super().on_bus_message(message)
        if isinstance(message, BusTTSSpeakMessage) and message.target == self.name:
            self.waiting.pop(message.text).set()

one_job = one

async def one_plain(voice, i):
    if not voice.connected:  # a job waits for the worker (so for the connection)
        await one_job(voice, -1)
        voice.connected = True
    event = voice.waiting[str(i)] = asyncio.Event()
    await voice.send_bus_message(BusTTSSpeakMessage(text=str(i), source="voice", target="worker"))
    await event.wait()

if ROLE == "server":
    asyncio.run(server())
else:
    url, phase, n, warmup, out = sys.argv[2:]
    BaseWorker = Voice  # client() makes its voice worker with this name
    if phase == "plain":
        one = one_plain  # client() runs one(voice, i)
    n_seq, n_tp = (int(n), 0) if phase == "seq" else (0, int(n))
    asyncio.run(client(url, n_seq, n_tp, int(warmup), int(out)))
"""
)


# --- our client role (our server is benchmarks/proxy_rtt.py's) ------------------------------


def _client_role(url: str, phase: str, n: int, warmup: int, outstanding: int) -> None:
    import trio

    from trio_pipe.bus.messages import BusTTSSpeakMessage
    from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner
    from trio_pipe.workers.proxy import WebSocketProxyClient

    class Voice(BaseWorker):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.waiting: dict[str, trio.Event] = {}

        async def on_bus_message(self, message: Any) -> None:
            await super().on_bus_message(message)
            if isinstance(message, BusTTSSpeakMessage) and message.target == self.name:
                self.waiting.pop(message.text).set()

    async def one_job(voice: Voice, i: int) -> None:
        async with voice.job("worker", params=JobParams(name="echo", payload={"i": i})) as t:
            pass
        assert t.response["i"] == i

    async def one_plain(voice: Voice, i: int) -> None:
        event = voice.waiting[str(i)] = trio.Event()
        await voice.send_bus_message(
            BusTTSSpeakMessage(text=str(i), source="voice", target="worker")
        )
        await event.wait()

    async def main() -> dict[str, Any]:
        runner = WorkerRunner(name="bench-client", handle_sigint=False)
        voice = Voice("voice")
        proxy = WebSocketProxyClient(
            "proxy", url=url, remote_worker_name="worker", local_worker_name="voice", active=True
        )
        await runner.add_workers(voice, proxy)
        result: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            await one_job(voice, -1)  # waits for the worker, so for the connection
            one = one_plain if phase == "plain" else one_job
            for i in range(warmup):  # as Pipecat's client (benchmarks/proxy_rtt.py) does
                await one(voice, i)
            if phase == "seq":
                result["rtt"] = await timed_round_trips(partial(one_job, voice), n, 0)
            else:
                t0 = time.perf_counter()
                await saturate(partial(one, voice), n, outstanding)
                result["jobs_per_s"] = n / (time.perf_counter() - t0)
            await runner.cancel()
        return result

    print(json.dumps(trio.run(main)), flush=True)


# --- orchestration (called by benchmarks/proxy_rtt.py) -----------------------------------

PHASES = ("seq", "jobs", "plain")
PAIRINGS = {  # name: (server, client)
    "trio_pipe_pair": ("trio_pipe", "trio_pipe"),
    "our_client_pipecat_server": ("pipecat", "trio_pipe"),
    "pipecat_client_our_server": ("trio_pipe", "pipecat"),
    "pipecat_pair": ("pipecat", "pipecat"),
}
METRICS = {
    "seq_p50": Metric("proxy job round trip p50, sequential", percentile_of("rtt"), False),
    "jobs_per_s": Metric("proxy jobs/s, 50 outstanding", field("jobs_per_s")),
    "plain_per_s": Metric(
        "proxy plain-message round trips/s, 50 outstanding", field("plain_per_s")
    ),
}
DESCRIBED = {
    "trio_pipe_pair": "trio_pipe <-> trio_pipe (Hypercorn)",
    "our_client_pipecat_server": "trio_pipe client -> Pipecat server (uvicorn)",
    "pipecat_client_our_server": "Pipecat client -> trio_pipe server (Hypercorn)",
}
#: Issue 12's targets for the trio_pipe pair, as trio_pipe ÷ Pipecat ratios.
TARGETS = {"seq_p50": ("<=", 0.7), "jobs_per_s": (">=", 2.0), "plain_per_s": (">=", 2.0)}


def measure(sequential: int, throughput: int, rounds: int, pc_python: str | None) -> dict[str, Any]:
    """Run every pairing and workload (see the module doc): ``speedup`` entries against
    Pipecat <-> Pipecat, the issue's targets as trio_pipe ÷ Pipecat ratios, and each
    pairing's per-round figures."""

    ours = [sys.executable, "-m", "benchmarks._proxy_wire", "--role"]
    our_server = [sys.executable, "-m", "benchmarks.proxy_rtt", "--role", "server"]
    ends: dict[str, list[str]] = {"trio_pipe": ours}
    if pc_python:
        ends["pipecat"] = [pc_python, "-c", PIPECAT_ROLES]
    pairings = {k: v for k, v in PAIRINGS.items() if v[0] in ends and v[1] in ends}
    sizes = {"seq": sequential, "jobs": throughput, "plain": throughput}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in pairings}
    for _ in range(rounds):  # alternate pairings, so machine noise hits each alike
        for name, (server, client) in pairings.items():
            result: dict[str, Any] = {}
            for phase in PHASES:  # a fresh pair of processes per phase
                args = [phase, str(sizes[phase]), str(WARMUP), str(OUTSTANDING)]
                serve = our_server if server == "trio_pipe" else [*ends[server], "server"]
                found = _pair(serve, [*ends[client], "client"], args)
                key = {"seq": "rtt", "jobs": "jobs_per_s", "plain": "plain_per_s"}[phase]
                result[key] = found["rtt"] if phase == "seq" else found["jobs_per_s"]
            results[name].append(result)
    doc: dict[str, Any] = {
        "pairings": {
            name: {
                "seq_p50_us_rounds": [percentiles(r["rtt"])["p50"] for r in rounds_],
                "jobs_per_s_rounds": [round(r["jobs_per_s"]) for r in rounds_],
                "plain_per_s_rounds": [round(r["plain_per_s"]) for r in rounds_],
            }
            for name, rounds_ in results.items()
        }
    }
    if "pipecat_pair" not in results:
        return doc
    speedup: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for name in pairings:
        if name == "pipecat_pair":
            continue
        entries = compare(results[name], results["pipecat_pair"], METRICS)
        for metric, entry in entries.items():
            entry["label"] = f"{entry['label']}: {DESCRIBED[name]} vs Pipecat pair"
            speedup[f"wire_{name}_{metric}"] = entry
            # trio_pipe ÷ Pipecat, as the issue states its targets (times: lower is better)
            invert = not METRICS[metric].higher_is_better
            per = [1 / v if invert else v for v in entry["per_round"]]
            ratios.setdefault(name, {})[metric] = {
                "median": round(statistics.median(per), 2),
                "min": round(min(per), 2),
                "max": round(max(per), 2),
            }
    doc["speedup"] = speedup
    doc["trio_pipe_over_pipecat"] = ratios
    pair = ratios["trio_pipe_pair"]
    doc["targets"] = {
        metric: {
            "target": f"{op} {bound}x",
            "trio_pipe_over_pipecat": pair[metric]["median"],
            "met": pair[metric]["median"] <= bound
            if op == "<="
            else pair[metric]["median"] >= bound,
        }
        for metric, (op, bound) in TARGETS.items()
    }
    doc["mixed_no_worse_than_pipecat_pair"] = {
        name: {
            metric: (r[metric]["median"] <= 1.0)
            if metric == "seq_p50"
            else (r[metric]["median"] >= 1.0)
            for metric in METRICS
        }
        for name, r in ratios.items()
        if name != "trio_pipe_pair"
    }
    return doc


if __name__ == "__main__":  # the roles: python -m benchmarks._proxy_wire --role ...
    os.environ.setdefault("LOGURU_LEVEL", "ERROR")
    url, phase, n, warmup, out = sys.argv[3:]  # --role client ...
    _client_role(url, phase, int(n), int(warmup), int(out))
