"""WebSocket clients side by side: trio_pipe's (``trio_pipe.ws.client``) and trio-websocket's.

The measurement that chose the client (docs/architecture.md, "The WebSocket seam"). One
server process (Starlette under Hypercorn via ``serve_asgi``, echoing every binary
message through ``asgi_socket``), and in this process, on a fresh connection per phase:

* ``seq``: round trips of a 144-byte message one at a time (p50, µs);
* ``pipelined``: messages with 50 outstanding (messages/s, and this process's CPU per
  message, which is the client's own cost: the server runs elsewhere).

Rounds alternate between the clients; the ratios are the medians of per-round ratios
(trio_pipe over trio-websocket, higher is better) with min and max. trio-websocket is in
the ``bench`` extra; it is not a dependency of trio_pipe.

    python -m benchmarks.ws_clients [--sequential N] [--pipelined N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    compare,
    emit,
    field,
    percentile_of,
    percentiles,
)

OUTSTANDING = 50
WARMUP = 200
PAYLOAD = b"x" * 144

Send = Callable[[bytes], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]


def _server() -> None:
    """The echo server (``--role server``): prints its port, serves until stdin closes."""
    import trio
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from trio_pipe.serving import serve_asgi
    from trio_pipe.ws.asgi import asgi_socket
    from trio_pipe.ws.base import ConnectionClosed

    async def endpoint(websocket: Any) -> None:
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            try:
                while True:
                    await sock.send(await sock.receive())
            except ConnectionClosed:
                pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
            served = await nursery.start(serve_asgi, app)
            print(served.port, flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)  # until the parent closes it
            nursery.cancel_scope.cancel()

    trio.run(main)


@asynccontextmanager
async def _trio_pipe(url: str) -> AsyncIterator[tuple[Send, Receive]]:
    from trio_pipe.ws.client import open_client_socket

    async with open_client_socket(url) as sock:
        yield sock.send, sock.receive


@asynccontextmanager
async def _trio_websocket(url: str) -> AsyncIterator[tuple[Send, Receive]]:
    import trio_websocket

    async with trio_websocket.open_websocket_url(url) as ws:
        yield ws.send_message, ws.get_message


CLIENTS = {"trio_pipe": _trio_pipe, "trio_websocket": _trio_websocket}


def _measure(client: str, url: str, sequential: int, pipelined: int) -> dict[str, Any]:
    import trio

    async def main() -> dict[str, Any]:
        result: dict[str, Any] = {}
        async with CLIENTS[client](url) as (send, receive):
            for _ in range(WARMUP):
                await send(PAYLOAD)
                await receive()
            samples = []
            for _ in range(sequential):
                t0 = time.perf_counter()
                await send(PAYLOAD)
                await receive()
                samples.append(time.perf_counter() - t0)
            result["rtt"] = samples
        async with CLIENTS[client](url) as (send, receive):  # a fresh connection
            window = trio.Semaphore(OUTSTANDING)

            async def sender() -> None:
                for _ in range(pipelined):
                    await window.acquire()
                    await send(PAYLOAD)

            t0, c0 = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                for _ in range(pipelined):
                    await receive()
                    window.release()
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            result.update(per_s=pipelined / elapsed, cpu_us=cpu / pipelined * 1e6)
        return result

    return trio.run(main)


METRICS = {
    "rtt_p50": Metric("WebSocket round trip p50, one at a time", percentile_of("rtt"), False),
    "per_s": Metric("WebSocket messages/s, 50 outstanding", field("per_s")),
    "cpu_us": Metric("client CPU per message, 50 outstanding", field("cpu_us"), False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sequential", type=int, default=5_000, help="round trips timed")
    parser.add_argument("--pipelined", type=int, default=20_000, help="messages, 50 outstanding")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="500 / 2,000 messages, one round")
    parser.add_argument("--role", choices=["server"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        _server()
        return
    if args.quick:
        args.sequential, args.pipelined, args.rounds = 500, 2_000, 1
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.ws_clients", "--role", "server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{int(server.stdout.readline())}/ws"
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
        for _ in range(args.rounds):  # alternate, so machine noise hits both alike
            for name in CLIENTS:
                results[name].append(_measure(name, url, args.sequential, args.pipelined))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    doc: dict[str, Any] = {
        "benchmark": "ws_clients",
        "area": "WebSocket seam",
        "sequential_round_trips": args.sequential,
        "pipelined_messages": args.pipelined,
        "rounds": args.rounds,
        "clients": {
            name: {
                "rtt_p50_us_rounds": [percentiles(r["rtt"])["p50"] for r in rounds],
                "per_s_rounds": [round(r["per_s"]) for r in rounds],
                "cpu_us_rounds": [round(r["cpu_us"], 1) for r in rounds],
            }
            for name, rounds in results.items()
        },
        # trio_pipe over trio-websocket, higher is better (not a Pipecat comparison, so
        # not under "speedup": the report's table is against Pipecat only).
        "trio_pipe_over_trio_websocket": compare(
            results["trio_pipe"], results["trio_websocket"], METRICS
        ),
    }
    emit(doc)


if __name__ == "__main__":
    sys.exit(main())
