"""Multi-process sessions: real-time echo sessions kept up with by 1 and 2 server processes.

The workload and the criteria are ``transport_sessions``' (N sessions x 16 kHz PCM16 in
20 ms protobuf frames, real time, echoed through a paced output; kept up: echoed >= 99 %,
p99 gap <= 2 x 40 ms, lag growth < 100 ms), and so is the load generator
(``benchmarks/_wsload.py``, one process). Servers, fresh for every run:

* ``trio_pipe``: ``trio_pipe.multiprocess.serve_processes`` with P processes, each
  serving the echo bot of ``transport_sessions`` under Hypercorn on Trio; ``--mode
  reuseport`` (default, each process its own ``SO_REUSEPORT`` socket) or ``shared`` (one
  inherited socket);
* ``pipecat``: the same bot on Pipecat 1.14 under ``uvicorn --workers P`` (one shared
  socket, uvicorn's model);
* ``--metrics``: also trio_pipe with ``trio_pipe.metrics`` on (sessions counted,
  pacing histograms), 1 process, to measure what metrics cost.

Both of ``transport_sessions``' configurations run (``--configs``): ``bare`` (ours a
``PipelineTask``; Pipecat's ``PipelineWorker`` with RTVI, turn tracking and the idle timeout
off) and ``worker``, as users run them (each side's ``PipelineWorker`` with its defaults,
RTVI on, under a ``WorkerRunner``). The ``bare`` figures keep their names
(``max_sessions_kept_up.xP``); the ``worker`` ones are ``max_sessions_kept_up.worker.xP``.

For each configuration and P the figure is the largest N kept up with, found by
``transport_sessions``' search (``benchmarks/_ramp.py``: climb from ``--start`` by
``--step``, then halve the gap down to ``--resolution``; later rounds start at the previous
answer). Rounds alternate the sides at each P (``--rounds``, 3 by default), and the
``speedup`` entries are the medians of the per-round ratios trio_pipe / Pipecat at each P,
with min and max; ``scaling`` holds each side's 2-process / 1-process ratio per round (no
comparison with Pipecat, so not in the report's table).

    python -m benchmarks.multiprocess_sessions [--start 40 --step 40 --resolution 20]
    python -m benchmarks.multiprocess_sessions --quick     # 4 s runs at 40 and 80, 1 round
    python -m benchmarks.multiprocess_sessions --processes 1 --metrics --ours-only
    python -m benchmarks.multiprocess_sessions --configs worker      # one configuration

On a 2-core machine the load generator shares the cores with the servers: one epoll loop,
not on Trio (see ``benchmarks/_wsload.py``), it takes a tenth to a fifth of a core at 100
to 200 sessions, so the 2-process figure is close to, but still below, what two whole
cores serve.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks._harness import MIN_ROUNDS, Metric, compare, emit, field, pipecat_python
from benchmarks._ramp import Search, find_capacity, next_search
from benchmarks.transport_sessions import CONFIGS, PIPECAT_SERVER, echo_app, keeps_up

# The Pipecat bot of transport_sessions as an importable module for `uvicorn --workers`.
_PIPECAT_APP = (
    "import os, sys\nsys.argv[1:] = [os.environ.get('BENCH_CONFIG', 'bare')]\n"
    + PIPECAT_SERVER.split("class Server(uvicorn.Server)")[0]
)


def bare_app() -> Any:
    """The ``bare`` echo bot of ``transport_sessions`` (run in each serving process)."""
    return echo_app("bare")


def worker_app() -> Any:
    """The ``worker`` echo bot of ``transport_sessions``: a ``PipelineWorker`` with its
    defaults (RTVI on) under a ``WorkerRunner``, as users run it."""
    return echo_app("worker")


def bare_app_with_metrics() -> Any:
    """:func:`bare_app` with trio_pipe.metrics on (sessions counted, pacing histograms)."""
    from trio_pipe.metrics import Metrics

    return Metrics().asgi(bare_app())


def _our_server(processes: int, mode: str, metrics: bool, config: str) -> None:
    from trio_pipe.multiprocess import serve_processes

    factories = {"worker": worker_app, "bare": bare_app_with_metrics if metrics else bare_app}
    factory = factories[config]
    if mode == "direct":  # one process, this one: its CPU is the server's (/proc/PID)
        import trio

        from trio_pipe.serving import serve_asgi

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                served = await nursery.start(serve_asgi, factory())
                print(served.ws_url("/ws"), flush=True)

        trio.run(main)
        return
    serve_processes(
        factory,
        workers=processes,
        mode=mode,  # type: ignore[arg-type]
        on_ready=lambda served, _pids: print(served.ws_url("/ws"), flush=True),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def measure(
    side: str,
    processes: int,
    n: int,
    seconds: float,
    args: argparse.Namespace,
    mode: str = "",
    config: str = "bare",
):
    """One run: a fresh server group (of ``config``), the load generator, a graceful stop."""
    with tempfile.TemporaryDirectory() as tmp:
        if side == "pipecat":
            python = pipecat_python()
            assert python is not None
            with open(os.path.join(tmp, "pipecat_bench_app.py"), "w") as f:
                f.write(_PIPECAT_APP)
            port = _free_port()
            argv = [python, "-m", "uvicorn", "pipecat_bench_app:app", "--app-dir", tmp]
            argv += ["--port", str(port), "--workers", str(processes), "--lifespan", "off"]
            argv += ["--log-level", "error"]
            env = dict(os.environ, LOGURU_LEVEL="ERROR", BENCH_CONFIG=config)
            server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
            try:
                _wait_listening(port)
            except BaseException:
                server.kill()
                raise
            url = f"ws://127.0.0.1:{port}/ws"
        else:
            argv = [sys.executable, "-m", "benchmarks.multiprocess_sessions", "--role-server"]
            on = "1" if side == "trio_pipe+metrics" else "0"
            argv += [str(processes), mode or args.mode, on, config]
            server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url.startswith("ws://"):
                server.kill()
                raise RuntimeError(f"server did not start: {argv}")
        pid = str(server.pid)
        try:
            load = subprocess.run(
                [sys.executable, "-m", "benchmarks._wsload", url, str(n), str(seconds), pid],
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
            if load.returncode != 0:
                raise RuntimeError(f"load generator failed:\n{load.stderr[-2000:]}")
            run = json.loads(load.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    run["keeps_up"] = keeps_up(run)
    run["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return run


def ramp(
    side: str, processes: int, search: Search, args: argparse.Namespace, config: str = "bare"
) -> dict[str, Any]:
    """One round of one server group: the search for the largest N it keeps up with."""
    runs: list[dict[str, Any]] = []

    def keeps_up(n: int) -> bool:
        run = measure(side, processes, n, args.seconds, args, config=config)
        runs.append(run)
        brief = {k: run.get(k) for k in ("echoed_ratio", "gap_p99_ms", "lag_growth_ms")}
        print(f"[multiprocess] {side} {config} x{processes} N={n}: {brief}", file=sys.stderr)
        return bool(run["keeps_up"])

    kept = find_capacity(keeps_up, search)
    return {"max_sessions_kept_up": kept, "runs": runs}


def label(processes: int, config: str = "bare") -> str:
    """The report's name of the comparison at ``processes`` server processes."""
    noun = "process" if processes == 1 else "processes"
    return f"real-time sessions kept up with, {processes} server {noun} a side, {CONFIGS[config]}"


def key(processes: int, config: str) -> str:
    """Where a figure is filed: ``x2`` for ``bare`` (its name before ``worker`` was
    measured too, so runs of either age pool and compare), ``worker.x2``."""
    return f"x{processes}" if config == "bare" else f"{config}.x{processes}"


def scaling(kept: list[dict[int, int]]) -> list[float | None]:
    """Per round, the 2-process figure over the 1-process one (None without both)."""
    return [round(k[2] / k[1], 3) if k.get(1) and k.get(2) else None for k in kept]


def metrics_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Server CPU per session with metrics off and on, one process, N sessions, alternating
    rounds (the process serves in the measured PID)."""
    n = args.metrics_cost
    per_round = []
    for _ in range(args.rounds):
        off = measure("trio_pipe", 1, n, args.seconds, args, mode="direct")
        on = measure("trio_pipe+metrics", 1, n, args.seconds, args, mode="direct")
        per_round.append((off["cpu_per_session_pct"], on["cpu_per_session_pct"]))
        print(f"[multiprocess] metrics cost N={n}: off/on {per_round[-1]}", file=sys.stderr)
    ratios = sorted(on / off for off, on in per_round)
    return {
        "sessions": n,
        "cpu_per_session_pct": [{"off": a, "on": b} for a, b in per_round],
        "cpu_on_over_off_median": round(ratios[len(ratios) // 2], 3),
        "cpu_on_over_off_min_max": [round(ratios[0], 3), round(ratios[-1], 3)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--start", type=int, default=40, help="first N of the search")
    parser.add_argument("--step", type=int, default=40, help="the first round's climb")
    parser.add_argument("--resolution", type=int, default=20, help="sessions (search stops)")
    parser.add_argument("--limit", type=int, default=400, help="largest N run")
    parser.add_argument("--quick", action="store_true", help="4 s runs at 40 and 80, 1 round")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--mode", choices=("reuseport", "shared"), default="reuseport")
    parser.add_argument(
        "--configs", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS), help="bots run"
    )
    parser.add_argument("--metrics", action="store_true", help="also trio_pipe + metrics")
    parser.add_argument("--ours-only", action="store_true", help="skip Pipecat")
    parser.add_argument(
        "--metrics-cost",
        type=int,
        metavar="N",
        help="only measure server CPU per session at N sessions, metrics off vs on",
    )
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="alternating rounds")
    parser.add_argument("--role-server", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role_server:
        processes, mode, metrics, config = args.role_server
        _our_server(int(processes), mode, metrics == "1", config)
        return
    if args.metrics_cost:
        emit({"benchmark": "multiprocess_sessions", "metrics_cost": metrics_cost(args)})
        return
    if args.quick:
        args.start, args.step, args.resolution, args.limit = 40, 40, 40, 80
        args.seconds, args.rounds = 4.0, 1
    sides = ["trio_pipe"]
    if args.metrics:
        sides.append("trio_pipe+metrics")
    if not args.ours_only and pipecat_python() is not None:
        sides.append("pipecat")
    first = Search(args.start, args.step, args.resolution, args.limit)
    doc: dict[str, Any] = {
        "benchmark": "multiprocess_sessions",
        "area": "Transports",
        "workload": f"N echo sessions, real time, {args.seconds:g} s, P server processes",
        "mode": args.mode,
        "cores": os.cpu_count(),
        "rounds": args.rounds,
        "search": vars(first),
    }
    groups = [(side, config) for config in args.configs for side in sides]
    # Metrics are measured on the bare bot only (their cost, not another configuration).
    groups = [(side, c) for side, c in groups if side != "trio_pipe+metrics" or c == "bare"]
    # kept[(side, config)][round][processes]: the largest N kept up with
    kept: dict[tuple[str, str], list[dict[int, int]]] = {group: [] for group in groups}
    for round_no in range(max(1, args.rounds)):
        for group in groups:
            kept[group].append({})
        for processes in args.processes:
            for side, config in groups:
                rounds = kept[side, config]
                before = rounds[round_no - 1].get(processes, 0) if round_no else 0
                search = next_search(first, before) if round_no else first
                outcome = ramp(side, processes, search, args, config)
                doc.setdefault(side, {}).setdefault(key(processes, config), []).append(outcome)
                rounds[round_no][processes] = outcome["max_sessions_kept_up"]
    doc["max_sessions_kept_up"] = {}
    doc["scaling"] = {}
    for (side, config), rounds in kept.items():
        figures = doc["max_sessions_kept_up"].setdefault(side, {})
        for p in args.processes:
            figures[key(p, config)] = [k[p] for k in rounds]
        name = side if config == "bare" else f"{side} ({config})"
        doc["scaling"][f"{name}: 2 processes / 1"] = scaling(rounds)
    speedup: dict[str, Any] = {}
    for config in args.configs:
        if ("pipecat", config) not in kept:
            continue
        ours = [{key(p, config): k.get(p) for p in k} for k in kept["trio_pipe", config]]
        theirs = [{key(p, config): k.get(p) for p in k} for k in kept["pipecat", config]]
        metrics = {
            f"max_sessions_kept_up.{key(p, config)}": Metric(
                label(p, config), field(key(p, config))
            )
            for p in args.processes
        }
        speedup.update(compare(ours, theirs, metrics))
    if speedup:
        doc["speedup"] = speedup
    if ("trio_pipe+metrics", "bare") in kept:
        doc["metrics_on_over_off"] = {
            f"x{p}": [
                round(on[p] / off[p], 3) if on.get(p) and off.get(p) else None
                for on, off in zip(
                    kept["trio_pipe+metrics", "bare"], kept["trio_pipe", "bare"], strict=True
                )
            ]
            for p in args.processes
        }
    emit(doc)


if __name__ == "__main__":
    main()
