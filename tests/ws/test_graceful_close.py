"""A graceful end loses nothing: ``stop()`` on either proxy side runs the WebSocket closing
handshake, so every message sent before it reaches the other side, on Hypercorn.

Before, ``stop()`` sent the close frame and dropped the socket at once: replies still
unread in its receive buffer turned the close into a TCP reset, and the host's kernel
threw away what the host had not read yet (about half of 1,000 messages).

``RUNS`` connections in a row (20), ``MESSAGES`` each (10,000: the issue's figure, about
2-6 s a run on a 2-core machine). Both can be set from the environment. The deadlines are
hang guards.
"""

from __future__ import annotations

import os

import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.bus.messages import BusJobStreamDataMessage, BusMessage
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner
from trio_pipe.workers.proxy import WebSocketProxyClient, WebSocketProxyServer

RUNS = int(os.environ.get("TRIO_PIPE_GRACEFUL_RUNS", "20"))
MESSAGES = int(os.environ.get("TRIO_PIPE_GRACEFUL_MESSAGES", "10000"))
LIMIT = 60.0  # hang guard per run
# The handshake waits while the peer works through its backlog (seconds of it, for 10,000
# messages on a loaded machine); a shorter close timeout drops the rest, by design.
CLOSE_TIMEOUT = 30.0


class Counter(BaseWorker):
    """Counts stream data addressed to it; optionally answers each one."""

    def __init__(self, name: str, *, answer: bool = False) -> None:
        super().__init__(name)
        self.count = 0
        self.answer = answer

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, BusJobStreamDataMessage) and message.target == self.name:
            self.count += 1
            if self.answer:  # replies pile up, unread, in the client's receive buffer
                await self.send_bus_message(
                    BusJobStreamDataMessage(
                        job_id=message.job_id,
                        data=message.data,
                        source=self.name,
                        target=message.source,
                    )
                )


class Host:
    """runner-b behind Hypercorn: one ``WebSocketProxyServer`` per connection."""

    def __init__(self) -> None:
        self.worker = Counter("worker", answer=True)
        self.runner = WorkerRunner(name="runner-b", handle_sigint=False)
        self.proxies: list[WebSocketProxyServer] = []
        self.url = ""

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        proxy = WebSocketProxyServer(
            f"gateway-{len(self.proxies)}",
            websocket=websocket,
            worker_name="worker",
            remote_worker_name="voice",
            close_timeout=CLOSE_TIMEOUT,
        )
        self.proxies.append(proxy)
        await self.runner.add_workers(proxy)
        await proxy.wait()

    async def start(self, nursery: trio.Nursery) -> None:
        await self.runner.add_workers(self.worker)
        app = Starlette(routes=[WebSocketRoute("/ws", self.endpoint)])
        served = await nursery.start(serve_asgi, app)
        await nursery.start(
            lambda task_status: self.runner.run(auto_end=False, task_status=task_status)
        )
        self.url = served.ws_url("/ws")


async def _until(predicate) -> None:
    while not predicate():  # noqa: ASYNC110 (the counters move with socket I/O)
        await trio.sleep(0.005)


async def _burst(sender: BaseWorker, target: str, run: int, messages: int) -> None:
    """``messages`` stream chunks from ``sender`` to ``target``, as fast as the bus takes
    them (a checkpoint every hundred)."""
    for i in range(messages):
        sender.bus.send(
            BusJobStreamDataMessage(
                job_id=f"r{run}", data={"i": i}, source=sender.name, target=target
            )
        )
        if i % 100 == 99:
            await trio.lowlevel.checkpoint()


async def _connect(
    host: Host, nursery: trio.Nursery
) -> tuple[WorkerRunner, Counter, WebSocketProxyClient]:
    voice = Counter("voice")
    proxy = WebSocketProxyClient(
        "proxy",
        url=host.url,
        remote_worker_name="worker",
        local_worker_name="voice",
        close_timeout=CLOSE_TIMEOUT,
    )
    runner = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner.add_workers(voice, proxy)
    await nursery.start(runner.run)
    await voice.activate_worker("proxy")
    await _until(lambda: proxy.connected)
    return runner, voice, proxy


async def _client_stops(host: Host, run: int, messages: int) -> int:
    """One connection: the client sends ``messages``, then stops; what the host counted."""
    before = host.worker.count
    async with trio.open_nursery() as inner:
        runner, voice, proxy = await _connect(host, inner)
        await _burst(voice, "worker", run, messages)
        await _until(lambda: proxy.stats.sent == messages)
        await proxy.stop()  # the graceful end
        server_proxy = host.proxies[-1]
        await _until(lambda: server_proxy.finished)
        # What crossed is on the host's bus; the worker may still be reading it.
        crossed = server_proxy.stats.delivered
        await _until(lambda: host.worker.count - before >= crossed)
        await runner.cancel()
    return host.worker.count - before


async def _server_stops(host: Host, run: int, messages: int) -> int:
    """One connection: the host sends ``messages``, then its proxy stops; what the client
    counted."""
    async with trio.open_nursery() as inner:
        runner, voice, proxy = await _connect(host, inner)
        await _until(lambda: len(host.proxies) == run + 1)
        server_proxy = host.proxies[-1]
        # Its registry message came through: the server proxy is on the host's bus.
        await _until(lambda: proxy.stats.delivered >= 1)
        await _burst(host.worker, server_proxy.peer_bus_name, run, messages)
        await _until(lambda: server_proxy.stats.sent >= messages + 1)  # and the registry
        await server_proxy.stop()  # the graceful end, from the host's side
        await _until(lambda: not proxy.connected)
        crossed = proxy.stats.delivered - 1  # all but the registry message are for voice
        await _until(lambda: voice.count >= crossed)
        await runner.cancel()
    return voice.count


# 20 runs of 10,000 messages take about a minute on a busy 2-core machine.
@pytest.mark.deadline(240)
@pytest.mark.parametrize("stopping", ["client", "server"])
async def test_a_graceful_stop_delivers_every_message_on_hypercorn(nursery, stopping):
    host = Host()
    await host.start(nursery)
    one_run = _client_stops if stopping == "client" else _server_stops
    for run in range(RUNS):
        with trio.fail_after(LIMIT):
            assert await one_run(host, run, MESSAGES) == MESSAGES, f"run {run}"
