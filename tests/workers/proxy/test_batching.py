"""Batch framing between trio_pipe peers, and the plain wire for anyone who does not offer it.

A trio_pipe proxy client offers ``trio-pipe.batch.v1``; the server (``accept_proxy_websocket``)
accepts it only when offered. Then several bus messages may share one WebSocket message;
a peer that does not offer it (Pipecat's client, a raw socket) gets one message per frame.
A malformed batch is dropped and counted; the connection goes on.
"""

from __future__ import annotations

from typing import Any

import trio

from tests.workers.proxy.proxy_helpers import LIMIT, wait_for
from tests.workers.proxy.test_boundary import JSON, Echo, registered, request
from trio_pipe.bus.messages import BusJobResponseMessage, BusMessage, BusTTSSpeakMessage
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner
from trio_pipe.workers.proxy import WebSocketProxyClient
from trio_pipe.ws.batch import BATCH_SUBPROTOCOL, MAGIC, is_batch, pack, unpack
from trio_pipe.ws.client import open_client_socket

JOBS = 50


async def _many_jobs(voice: BaseWorker, count: int) -> list[object]:
    answers: list[object] = [None] * count

    async def one(i: int) -> None:
        params = JobParams(name="echo", payload={"i": i}, timeout=LIMIT)
        async with voice.job("worker", params=params) as task:
            async for _ in task:
                pass
        answers[i] = task.response

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one, i)
    return answers


async def test_trio_pipe_peers_batch_and_every_job_completes_in_order(make_proxy_app, nursery):
    app = await make_proxy_app(Echo("worker"))
    voice = BaseWorker("voice")
    client = WebSocketProxyClient(
        "proxy", url=app.ws_url("voice"), remote_worker_name="worker", local_worker_name="voice"
    )
    runner = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner.add_workers(voice, client)
    await nursery.start(runner.run)
    await voice.activate_worker("proxy")
    await _many_jobs(voice, 1)  # the registry has arrived; the rest go at once
    # One request queued alone went as a plain message, not a batch of one.
    assert client.stats.sent == 1 and client.stats.batches_sent == 0
    assert app.proxies[0].stats.batches_received == 0
    answers = await _many_jobs(voice, JOBS)
    assert answers == [{"i": i} for i in range(JOBS)]
    server = app.proxies[0]
    assert client.websocket.subprotocol == BATCH_SUBPROTOCOL
    assert server.websocket.subprotocol == BATCH_SUBPROTOCOL
    # Requests went out together, so fewer WebSocket messages than bus messages, both ways.
    assert client.stats.batches_sent > 0 and server.stats.batches_sent > 0
    assert client.websocket.messages_sent < client.stats.sent
    assert server.websocket.messages_sent < server.stats.sent
    assert server.stats.batches_received == client.stats.batches_sent
    assert server.stats.decode_errors == client.stats.decode_errors == 0
    await runner.cancel()


async def test_a_client_that_does_not_offer_batching_gets_one_message_per_frame(make_proxy_app):
    app = await make_proxy_app(Echo("worker"))
    async with open_client_socket(app.ws_url("plain")) as sock:
        assert sock.subprotocol is None
        await registered(sock)
        for i in range(JOBS):  # all at once: a batching server would batch the answers
            await sock.send(JSON.serialize(request(f"j{i}", "plain")))
        answered = set()
        with trio.fail_after(LIMIT):
            while len(answered) < JOBS:
                frame = await sock.receive()
                assert not is_batch(frame)
                message = JSON.deserialize(frame)  # each frame is one plain message
                if isinstance(message, BusJobResponseMessage):
                    answered.add(message.job_id)
        assert app.proxies[0].stats.batches_sent == 0


async def test_a_malformed_batch_is_dropped_and_counted_and_the_connection_goes_on(
    make_proxy_app,
):
    app = await make_proxy_app(Echo("worker"))
    async with open_client_socket(app.ws_url("mallory"), subprotocols=[BATCH_SUBPROTOCOL]) as sock:
        assert sock.subprotocol == BATCH_SUBPROTOCOL
        await wait_for(lambda: app.proxies)  # the endpoint runs on after the handshake
        proxy = app.proxies[0]
        await sock.send(MAGIC + b"\x00\x00\x00\x09abc")  # a length past the end
        await sock.send(MAGIC)  # empty
        # A well-formed batch with one undecodable payload between two good requests.
        good = [JSON.serialize(request(f"ok{i}", "mallory")) for i in range(2)]
        (batch,) = pack([good[0], b"{not json", good[1]])
        await sock.send(batch)
        answered = set()
        with trio.fail_after(LIMIT):
            while answered != {"ok0", "ok1"}:
                frame = await sock.receive()
                payloads = unpack(frame) if is_batch(frame) else [frame]
                for payload in payloads:
                    message = JSON.deserialize(payload)
                    if isinstance(message, BusJobResponseMessage):
                        answered.add(message.job_id)
        await wait_for(lambda: proxy.stats.delivered >= 2)
        assert proxy.stats.malformed_batches == 2
        assert proxy.stats.decode_errors == 3  # two broken batches, one bad payload
        assert proxy.stats.batches_received == 1
        assert proxy.websocket.is_open


async def _accepted_extensions(url: str) -> list[object]:
    """Open a WebSocket offering permessage-deflate; the extensions the server accepted."""
    from urllib.parse import urlsplit

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    parts = urlsplit(url)
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        proto = WSConnection(ConnectionType.CLIENT)
        target = f"{parts.path}?{parts.query}"
        request = Request(host=parts.netloc, target=target, extensions=[PerMessageDeflate()])
        await stream.send_all(proto.send(request))
        while True:
            data = await stream.receive_some(65536)
            assert data, "closed during the handshake"
            proto.receive_data(data)
            for event in proto.events():
                if isinstance(event, AcceptConnection):
                    return list(event.extensions)


async def test_the_proxy_endpoint_declines_compression_that_a_client_offers(make_proxy_app):
    """Pipecat's client offers permessage-deflate; per proxy message it costs the server
    more CPU than it saves, so the proxy handshake declines it."""
    app = await make_proxy_app(Echo("worker"))
    with trio.fail_after(LIMIT):
        assert await _accepted_extensions(app.ws_url("zipper")) == []


class Listener(Echo):
    """Records the text of every speak message addressed to it (and answers ``echo``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.heard: list[str] = []

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, BusTTSSpeakMessage) and message.target == self.name:
            self.heard.append(message.text)


class WatchingProxy(WebSocketProxyClient):
    """A subclass that sees every message itself: nothing is forwarded past it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = 0

    async def on_bus_message(self, message: BusMessage) -> None:
        self.seen += 1
        await super().on_bus_message(message)


async def test_a_burst_of_messages_arrives_whole_and_in_order(make_proxy_app, nursery):
    # Most of a burst is queued for the socket from the sender's task (bus_forward),
    # the first goes alone; a subclass that handles messages itself sees every one.
    listener = Listener("worker")
    app = await make_proxy_app(listener)
    voice = BaseWorker("voice")
    plain = WebSocketProxyClient(
        "proxy", url=app.ws_url("voice"), remote_worker_name="worker", local_worker_name="voice"
    )
    watching = WatchingProxy(
        "watching", url=app.ws_url("voice"), remote_worker_name="worker", local_worker_name="voice"
    )
    assert callable(getattr(plain, "bus_forward", None))
    assert getattr(watching, "bus_forward", None) is None
    runner = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner.add_workers(voice, plain)
    await nursery.start(runner.run)
    await voice.activate_worker("proxy")
    await _many_jobs(voice, 1)  # connected
    with trio.fail_after(LIMIT):
        for i in range(200):
            await voice.send_bus_message(
                BusTTSSpeakMessage(text=str(i), source="voice", target="worker")
            )
        await wait_for(lambda: len(listener.heard) == 200)
    assert listener.heard == [str(i) for i in range(200)]
    assert plain.stats.batches_sent > 0 and plain.stats.sent == 201
    await runner.add_workers(watching)
    await voice.activate_worker("watching")
    await _many_jobs(voice, 1)
    with trio.fail_after(LIMIT):
        await voice.send_bus_message(BusTTSSpeakMessage(text="x", source="voice", target="worker"))
        await wait_for(lambda: listener.heard[-2:] == ["x", "x"])  # both proxies sent it
    assert watching.seen > 0
    await runner.cancel()
