"""Serve one ASGI app from N processes on one port: every core of a host.

::

    # myapp.py
    def make_app():                        # runs in each serving process
        return Starlette(routes=[WebSocketRoute("/ws", bot)])

    if __name__ == "__main__":
        serve_processes(make_app, "0.0.0.0", 8765, workers=4)

Each process is a complete session host: its own Trio run, Hypercorn, and the sessions
the kernel hands it; workers a session needs in another process are reached over the
RedisBus or the WebSocket proxy, as with one process.

Two ways to share the port (``mode``):

* ``"reuseport"`` (default): every process binds its own listening socket with
  ``SO_REUSEPORT`` and the kernel spreads new connections evenly over them;
* ``"shared"``: the parent binds one listening socket and the processes inherit it,
  all accepting on it (Hypercorn's and uvicorn's ``--workers`` model). Under Trio every
  process is woken for each new connection and one wins; the spread follows which one
  is idle, so a busy host can end up uneven.

``benchmarks/multiprocess_sessions.py`` measures both. The parent reserves the port
(bound, not listening, so it never receives a connection), starts the processes with
the ``spawn`` method (a fresh interpreter each: no state forked from a running Trio
loop), waits until every one listens, and stops them on SIGINT/SIGTERM (each closes
its sessions) or when one of them exits.

``app_factory`` must be importable by the children (a module-level function): the
``spawn`` method pickles it by reference.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

import trio

from trio_pipe.serving import ServedApp
from trio_pipe.serving_sockets import TCPKeepalive, listening_socket

__all__ = ["LOG_FORMAT", "Mode", "serve_processes"]

#: The log line of every serving process (its pid tells them apart).
LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"

Mode = Literal["reuseport", "shared"]
AppFactory = Callable[[], Callable[..., Awaitable[Any]]]

# Longest wait for a serving process to listen.
_START_TIMEOUT = 60.0


def _reserve(host: str, port: int) -> socket.socket:
    """A socket holding ``host:port`` for the group, bound but never listening."""
    host = host.strip("[]")
    family, type_, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _child(
    app_factory: AppFactory,
    host: str,
    port: int,
    shared: socket.socket | None,
    options: dict[str, Any],
    ready: multiprocessing.connection.Connection,
    lifeline: multiprocessing.connection.Connection,
    log_level: int | None,
) -> None:
    """One serving process: serve until SIGINT/SIGTERM (then close the sessions)."""
    from trio_pipe.serving import serve_asgi

    if log_level is not None:
        logging.basicConfig(level=log_level, format=LOG_FORMAT)

    async def main() -> None:
        app = app_factory()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                served = await nursery.start(
                    partial(serve_asgi, app, host, port, sock=shared, **options)
                )
                ready.send((os.getpid(), served.port, served.metrics_port))
                ready.close()

                async def until_parent_gone() -> None:
                    # A parent killed outright cannot stop us: its end of the lifeline
                    # closes with it (end of file) and we stop.
                    await trio.lowlevel.wait_readable(lifeline.fileno())
                    nursery.cancel_scope.cancel()

                nursery.start_soon(until_parent_gone)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    trio.run(main)


def serve_processes(
    app_factory: AppFactory,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    workers: int = 2,
    mode: Mode = "reuseport",
    tcp_keepalive: TCPKeepalive | None = None,
    metrics_port: int | None = None,
    on_ready: Callable[[ServedApp, list[int]], None] | None = None,
    log_level: int | None = None,
) -> int:
    """Serve ``app_factory()`` from ``workers`` processes on ``host:port``; block until
    SIGINT/SIGTERM or until a process exits. Returns the exit status (0: stopped).

    ``on_ready(served, pids)`` runs once every process listens (``served.port`` is the
    bound port, useful with port 0). ``metrics_port``: each process serves its own
    ``/metrics`` on ``metrics_port + i`` (0: free ports; the first in ``served``).
    ``log_level``: each process logs to stderr at this level (None: no logging set up).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if mode not in ("reuseport", "shared"):
        raise ValueError(f"unknown mode {mode!r}")
    context = multiprocessing.get_context("spawn")
    holder: socket.socket
    if mode == "reuseport":
        holder = _reserve(host, port)
    else:
        holder = listening_socket(host, port, keepalive=tcp_keepalive)
    port = holder.getsockname()[1]
    processes: list[multiprocessing.process.BaseProcess] = []
    stop = {"signal": False}

    def forward(signum: int, _frame: Any) -> None:
        stop["signal"] = True
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    lifelines: list[multiprocessing.connection.Connection] = []  # open while we live
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        readers = []
        for i in range(workers):
            options: dict[str, Any] = {"tcp_keepalive": tcp_keepalive}
            if mode == "reuseport":
                options["reuse_port"] = True
            if metrics_port is not None:
                options["metrics_port"] = metrics_port + i if metrics_port else 0
            reader, writer = context.Pipe(duplex=False)
            lifeline, holding = context.Pipe(duplex=False)
            lifelines.append(holding)
            shared = holder if mode == "shared" else None
            process = context.Process(
                target=_child,
                args=(app_factory, host, port, shared, options, writer, lifeline, log_level),
                name=f"trio-pipe-serve-{i}",
            )
            process.start()
            writer.close()
            lifeline.close()
            processes.append(process)
            readers.append(reader)
        reports = []
        for reader, process in zip(readers, processes, strict=True):
            if not reader.poll(_START_TIMEOUT):
                raise RuntimeError(f"{process.name} did not start (exit code {process.exitcode})")
            reports.append(reader.recv())
            reader.close()
        if on_ready is not None:
            served = ServedApp(host=host, port=port, binds=(), metrics_port=reports[0][2])
            on_ready(served, [pid for pid, _, _ in reports])
        multiprocessing.connection.wait([p.sentinel for p in processes])
        if not stop["signal"]:  # one died on its own: stop the others
            forward(signal.SIGTERM, None)
        status = 0
        for process in processes:
            process.join()
            if not stop["signal"] and process.exitcode:
                status = status or process.exitcode
        return status
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
        for line in lifelines:
            line.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        holder.close()
