"""Redis bus: messages/s from one process to another over one channel, ours vs Pipecat's.

Two processes share a Redis channel: a receiver, whose subscriber counts messages, and a
sender, which sends ``--messages`` job updates as fast as its bus lets it. The figure is
messages delivered to the receiver's subscriber per second, from the sender's first send
to the receiver's last delivery (both read CLOCK_MONOTONIC, which all processes share).
Pipecat 1.14's ``RedisBus`` (redis-py) runs the same workload under ``PIPECAT_PYTHON``;
the rounds alternate. A redis-server is started on a free loopback port unless
``--redis-port`` names a running one.

    python -m benchmarks.redis_bus [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    best,
    compare,
    emit,
    field,
    median,
    pipecat_python,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANNEL = "bench:bus"

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time
from redis.asyncio import Redis
from pipecat.bus.messages import BusJobUpdateMessage
from pipecat.bus.network.redis import RedisBus
from pipecat.bus.subscriber import BusSubscriber
from pipecat.utils.asyncio.task_manager import TaskManager

ROLE, PORT, N, CHANNEL = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

class Counter(BusSubscriber):
    def __init__(self):
        self.count, self.done, self.last = 0, asyncio.Event(), 0.0
    @property
    def name(self):
        return "counter"
    async def on_bus_message(self, message):
        self.count += 1
        if self.count == N:
            self.last = time.monotonic()
            self.done.set()

async def main():
    bus = RedisBus(redis=Redis(host="127.0.0.1", port=PORT), channel=CHANNEL)
    await bus.setup(TaskManager(loop=asyncio.get_running_loop()))
    counter = Counter()
    await bus.subscribe(counter)
    await bus.start()
    if ROLE == "recv":
        print("ready", flush=True)
        await counter.done.wait()
        result = {"last": counter.last}
    else:
        start = time.monotonic()
        for i in range(N):
            await bus.send(BusJobUpdateMessage(source="a", target="b", job_id="j", update={"i": i}))
        await counter.done.wait()  # our own echo: everything went through Redis
        result = {"start": start}
    await bus.stop()
    print(json.dumps(result), flush=True)

asyncio.run(main())
"""


# --- the trio_pipe roles (run in their own processes) -----------------------------------


def _role(role: str, port: int, n: int, channel: str) -> None:
    import coredis
    import trio

    from trio_pipe.bus.messages import BusJobUpdateMessage
    from trio_pipe.bus.redis import RedisBus

    class Counter:
        name = "counter"

        def __init__(self) -> None:
            self.count, self.done, self.last = 0, trio.Event(), 0.0

        def accepts_bus_message(self, message: object) -> bool:
            return True

        async def on_bus_message(self, message: object) -> None:
            self.count += 1
            if self.count == n:
                self.last = time.monotonic()
                self.done.set()

    async def main() -> dict[str, float]:
        bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=port), channel=channel)
        counter = Counter()
        bus.subscribe(counter)
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run)
            if role == "recv":
                print("ready", flush=True)
                await counter.done.wait()
                result = {"last": counter.last}
            else:
                start = time.monotonic()
                for i in range(n):
                    bus.send(
                        BusJobUpdateMessage(source="a", target="b", job_id="j", update={"i": i})
                    )
                    if i % 100 == 99:  # let the bus work, as an application would
                        await trio.lowlevel.checkpoint()
                await counter.done.wait()  # our own echo: everything went through Redis
                result = {"start": start}
            nursery.cancel_scope.cancel()
        return result

    print(json.dumps(trio.run(main)), flush=True)


# --- orchestration ----------------------------------------------------------------------


def _pair(python: Sequence[str], port: int, n: int, timeout: float = 300) -> dict[str, Any]:
    """Run receiver then sender, both as ``python + [role, port, n, channel]``."""
    env = dict(os.environ, LOGURU_LEVEL="ERROR")
    args = [str(port), str(n), CHANNEL]
    receiver = subprocess.Popen(
        [*python, "recv", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError("receiver did not start")
        sender = subprocess.run(
            [*python, "send", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        if sender.returncode != 0:
            raise RuntimeError(f"sender failed:\n{sender.stderr[-2000:]}")
        out, _ = receiver.communicate(timeout=timeout)
    finally:
        receiver.kill()
    start = json.loads(sender.stdout.strip().splitlines()[-1])["start"]
    last = json.loads(out.strip().splitlines()[-1])["last"]
    return {"msgs_per_s": n / (last - start)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_redis() -> tuple[subprocess.Popen[bytes], int]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--role", choices=["recv", "send"], help=argparse.SUPPRESS)
    parser.add_argument("role_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role:  # a child process of this benchmark
        port, n, channel = args.role_args
        _role(args.role, int(port), int(n), channel)
        return

    server, port = (None, args.redis_port) if args.redis_port else _start_redis()
    try:
        ours_cmd = [sys.executable, "-m", "benchmarks.redis_bus", "--role"]
        pc_python = pipecat_python()
        theirs = None
        if pc_python:

            def theirs() -> dict[str, Any]:
                return _pair([pc_python, "-c", PIPECAT_SCRIPT], port, args.messages)

        mine, other = alternate(lambda: _pair(ours_cmd, port, args.messages), theirs, args.rounds)
    finally:
        if server is not None:
            server.kill()

    doc: dict[str, Any] = {
        "benchmark": "redis_bus",
        "area": "Bus",
        "messages": args.messages,
        "rounds": args.rounds,
        "trio_pipe": {
            "msgs_per_s": round(best(mine, "msgs_per_s")),
            "msgs_per_s_median": median([r["msgs_per_s"] for r in mine]),
        },
    }
    if other:
        doc["pipecat"] = {
            "msgs_per_s": round(best(other, "msgs_per_s")),
            "msgs_per_s_median": median([r["msgs_per_s"] for r in other]),
        }
        doc["speedup"] = compare(
            mine, other, {"msgs_per_s": Metric("Redis bus messages/s", field("msgs_per_s"))}
        )
        doc["targets"] = {"msgs_per_s": ">= 1.5x"}
    else:
        doc["pipecat"] = (
            "not measured: set PIPECAT_PYTHON to a Python with pipecat-ai[redis]==1.14.0"
        )
    emit(doc)


if __name__ == "__main__":
    main()
