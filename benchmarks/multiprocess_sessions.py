"""Multi-process sessions: real-time echo sessions kept up with by 1 and 2 server processes.

The workload and the criteria are ``transport_sessions``' (N sessions x 16 kHz PCM16 in
20 ms protobuf frames, real time, echoed through a paced output; kept up: echoed >= 99 %,
p99 gap <= 2 x 40 ms, lag growth < 100 ms), and so is the load generator
(``benchmarks/_wsload.py``, one process). Servers, fresh for every run:

* ``trio_pipe``: ``trio_pipe.multiprocess.serve_processes`` with P processes, each
  serving the ``bare`` echo bot of ``transport_sessions`` (FastAPIWebsocketTransport +
  ``PipelineTask``) under Hypercorn on Trio; ``--mode reuseport`` (default, each process
  its own ``SO_REUSEPORT`` socket) or ``shared`` (one inherited socket);
* ``pipecat``: the same bot on Pipecat 1.14 under ``uvicorn --workers P`` (one shared
  socket, uvicorn's model), RTVI, turn tracking and the idle timeout off;
* ``--metrics``: also trio_pipe with ``trio_pipe.metrics`` on (sessions counted,
  pacing histograms), 1 process, to measure what metrics cost.

For each P the figure is the largest N kept up with (the ramp stops at the first N not
kept up with). Printed: one JSON document with every run, and the ratios 2-process /
1-process per server and trio_pipe / Pipecat per process count.

    python -m benchmarks.multiprocess_sessions [--sessions 40 80 120 160] [--seconds 6]
    python -m benchmarks.multiprocess_sessions --processes 1 --metrics --ours-only

On a 2-core machine the load generator shares the cores with the servers, so the
2-process figure is a lower bound of what two cores serve.
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

from benchmarks._harness import emit, pipecat_python
from benchmarks.transport_sessions import PIPECAT_SERVER, echo_app, keeps_up

# The Pipecat bot of transport_sessions as an importable module for `uvicorn --workers`.
_PIPECAT_APP = (
    "import os, sys\nsys.argv[1:] = [os.environ.get('BENCH_CONFIG', 'bare')]\n"
    + PIPECAT_SERVER.split("class Server(uvicorn.Server)")[0]
)


def bare_app() -> Any:
    """The ``bare`` echo bot of ``transport_sessions`` (run in each serving process)."""
    return echo_app("bare")


def bare_app_with_metrics() -> Any:
    """:func:`bare_app` with trio_pipe.metrics on (sessions counted, pacing histograms)."""
    from trio_pipe.metrics import Metrics

    return Metrics().asgi(bare_app())


def _our_server(processes: int, mode: str, metrics: bool) -> None:
    from trio_pipe.multiprocess import serve_processes

    factory = bare_app_with_metrics if metrics else bare_app
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
    side: str, processes: int, n: int, seconds: float, args: argparse.Namespace, mode: str = ""
):
    """One run: a fresh server group, the load generator, a graceful stop."""
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
            env = dict(os.environ, LOGURU_LEVEL="ERROR")
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
            argv += [str(processes), mode or args.mode, on]
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


def ramp(side: str, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for n in sorted(args.sessions):
        run = measure(side, processes, n, args.seconds, args)
        runs.append(run)
        brief = {k: run.get(k) for k in ("echoed_ratio", "gap_p99_ms", "lag_growth_ms")}
        print(f"[multiprocess] {side} x{processes} N={n}: {brief}", file=sys.stderr)
        if not run["keeps_up"]:
            break
    kept = max((r["sessions"] for r in runs if r["keeps_up"]), default=0)
    return {"max_sessions_kept_up": kept, "runs": runs}


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[40, 80, 120, 160, 200])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--mode", choices=("reuseport", "shared"), default="reuseport")
    parser.add_argument("--metrics", action="store_true", help="also trio_pipe + metrics")
    parser.add_argument("--ours-only", action="store_true", help="skip Pipecat")
    parser.add_argument(
        "--metrics-cost",
        type=int,
        metavar="N",
        help="only measure server CPU per session at N sessions, metrics off vs on",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds for --metrics-cost")
    parser.add_argument("--role-server", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role_server:
        processes, mode, metrics = args.role_server
        _our_server(int(processes), mode, metrics == "1")
        return
    if args.metrics_cost:
        emit({"benchmark": "multiprocess_sessions", "metrics_cost": metrics_cost(args)})
        return
    sides = ["trio_pipe"]
    if args.metrics:
        sides.append("trio_pipe+metrics")
    if not args.ours_only and pipecat_python() is not None:
        sides.append("pipecat")
    doc: dict[str, Any] = {
        "benchmark": "multiprocess_sessions",
        "area": "Transports",
        "workload": f"N echo sessions, real time, {args.seconds:g} s, P server processes",
        "mode": args.mode,
        "cores": os.cpu_count(),
    }
    results: dict[str, dict[int, int]] = {side: {} for side in sides}
    for processes in args.processes:
        for side in sides:
            outcome = ramp(side, processes, args)
            doc.setdefault(side, {})[f"x{processes}"] = outcome
            results[side][processes] = outcome["max_sessions_kept_up"]
    ratios: dict[str, Any] = {}
    for side, kept in results.items():
        if kept.get(1) and kept.get(2):
            ratios[f"{side}: 2 processes / 1"] = round(kept[2] / kept[1], 3)
    if "pipecat" in results:
        for processes in args.processes:
            ours, theirs = results["trio_pipe"].get(processes), results["pipecat"].get(processes)
            if ours and theirs:
                ratios[f"trio_pipe / pipecat at {processes}"] = round(ours / theirs, 3)
    if "trio_pipe+metrics" in results:
        for processes in args.processes:
            on, off = (
                results["trio_pipe+metrics"].get(processes),
                results["trio_pipe"].get(processes),
            )
            if on and off:
                ratios[f"metrics on / off at {processes}"] = round(on / off, 3)
    doc["max_sessions_kept_up"] = results
    doc["ratios"] = ratios
    emit(doc)


if __name__ == "__main__":
    main()
