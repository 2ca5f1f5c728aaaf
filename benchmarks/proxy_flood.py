"""Proxy flood: what hostile messages from a client with a valid token cost the host.

The host is ``examples/proxy_server.py`` in a process of its own (Hypercorn on Trio, the
default ``ProxyPolicy``); its CPU time (``/proc/<pid>/stat``) and resident set are read
before the attack, after it (once an honest round trip on the attacking connection came
back: the connection is ordered, so every attack message was handled) and after the
attacker left. Scenarios:

* ``registry_fixed_N``: N registry snapshots, each from a new runner with two workers;
* ``registry_growing_N``: N snapshots, the i-th with i + 1 workers (the bytes grow with
  the square of N: what made the old host's cost quadratic);
* ``lifecycle_N``: N end/cancel/end-worker/cancel-worker/deactivate messages aimed at the
  served worker.

Each also reports whether the host was still up and answered an example client's jobs
afterwards.

    python -m benchmarks.proxy_flood            # 2,500 and 5,000 fixed, 2,500 growing
    python -m benchmarks.proxy_flood --quick    # 500 fixed, 200 growing, 500 lifecycle
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from benchmarks._harness import emit
from trio_pipe.bus.messages import (
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusJobRequestMessage,
    BusWorkerRegistryMessage,
    WorkerRegistryEntry,
)
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.ws.client import open_client_socket

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
JSON = JSONMessageSerializer()
LIFECYCLE = (
    BusEndMessage,
    BusCancelMessage,
    BusEndWorkerMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
)


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _messages(kind: str, count: int) -> list[bytes]:
    if kind == "lifecycle":
        return [
            JSON.serialize(LIFECYCLE[i % len(LIFECYCLE)](source="mallory", target="researcher"))
            for i in range(count)
        ]
    return [
        JSON.serialize(
            BusWorkerRegistryMessage(
                runner=f"fake-runner-{i}",
                workers=[
                    WorkerRegistryEntry(f"fake-{i}-{k}")
                    for k in range(i + 1 if kind == "registry_growing" else 2)
                ],
                source="mallory",
                target="researcher",
            )
        )
        for i in range(count)
    ]


async def _attack(url: str, frames: list[bytes]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with open_client_socket(f"{url}?worker=mallory", headers=headers) as sock:
        await sock.receive()  # the registry message: researcher is ready
        for data in frames:
            await sock.send(data)
        probe = BusJobRequestMessage(
            job_id="probe", job_name="search", payload={"q": "x"}, source="mallory",
            target="researcher",
        )  # fmt: skip
        await sock.send(JSON.serialize(probe))
        while getattr(JSON.deserialize(await sock.receive()), "job_id", None) != "probe":
            pass


def _scenario(kind: str, count: int) -> dict[str, Any]:
    env = dict(os.environ, PROXY_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "proxy_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        frames = _messages(kind, count)
        time.sleep(0.3)  # let the host settle after start-up
        cpu0, rss0 = _cpu_s(server.pid), _rss_mib(server.pid)
        trio.run(_attack, url, frames)
        cpu1, rss1 = _cpu_s(server.pid), _rss_mib(server.pid)
        time.sleep(0.5)  # the attacker left: its proxy finishes
        rss2 = _rss_mib(server.pid)
        client = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "proxy_client.py"), url],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        return {
            "messages": count,
            "mbytes_sent": round(sum(map(len, frames)) / 2**20, 1),
            "host_cpu_s": round(cpu1 - cpu0, 2),
            "host_rss_growth_mib": round(rss1 - rss0, 1),
            "host_rss_after_leave_mib": round(rss2 - rss0, 1),
            "host_up": server.poll() is None,
            "example_client_answered": client.returncode == 0,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        plan = [("registry_fixed", 500), ("registry_growing", 200), ("lifecycle", 500)]
    else:
        plan = [
            ("registry_fixed", 2500),
            ("registry_fixed", 5000),
            ("registry_growing", 2500),
            ("lifecycle", 2500),
        ]
    results = {f"{kind}_{count}": _scenario(kind, count) for kind, count in plan}
    emit({"benchmark": "proxy_flood", "area": "proxy", "scenarios": results})


if __name__ == "__main__":
    main()
