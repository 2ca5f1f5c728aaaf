"""WebSocketProxyServer behind a real Hypercorn server, driven by raw clients on 127.0.0.1
(P6 and P8-P12 on the server side), the handshake checks, and the reliability cases:
a client that stops reading, one that vanishes, one session's failure next to another,
and per-connection proxies that do not pile up."""

from __future__ import annotations

import pytest
import trio
from worker_helpers import record_events

from tests.workers.proxy.proxy_helpers import LIMIT, Inbox, wait_for
from trio_pipe.bus.messages import (
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobUpdateMessage,
    BusWorkerRegistryMessage,
    WorkerRegistryEntry,
)
from trio_pipe.frames import TextFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.workers import BaseWorker, job
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import ConnectError, open_client_socket

JSON = JSONMessageSerializer()


class Echo(BaseWorker):
    """Answers ``echo`` jobs with their payload; ``flood`` streams big chunks until
    cancelled."""

    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, message.payload)

    @job(name="flood")
    async def flood(self, message):
        chunk = {"data": "x" * (1 << 20)}
        while True:
            await self.send_job_stream_data(message.job_id, chunk)
            await trio.lowlevel.checkpoint()


def request(job_id: str, *, name: str = "echo", source: str = "voice", target: str = "worker"):
    return BusJobRequestMessage(
        job_id=job_id, job_name=name, payload={"id": job_id}, source=source, target=target
    )


async def receive(sock, cls=object):
    """The next message of type ``cls`` the proxy sent."""
    with trio.fail_after(LIMIT):
        while True:
            message = JSON.deserialize(await sock.receive())
            if isinstance(message, cls):
                return message


# --- P9: start -------------------------------------------------------------------------


async def test_p9_connected_event_then_one_registry_message_once_the_worker_is_ready(
    make_proxy_app,
):
    app = await make_proxy_app(
        on_proxy=lambda p: setattr(p, "log", record_events(p, "on_client_connected"))
    )
    async with open_client_socket(app.ws_url()) as sock:
        proxy = await app.next_proxy()
        await wait_for(lambda: proxy.log)
        assert proxy.log == [("on_client_connected", proxy._websocket)]
        with trio.move_on_after(0.1):
            await sock.receive()
            pytest.fail("nothing may be sent before the worker is ready")
        await app.runner.add_workers(Echo("worker"))
        registry = await receive(sock)
        assert isinstance(registry, BusWorkerRegistryMessage)
        assert (registry.source, registry.runner) == (proxy.name, "runner-b")
        assert registry.workers == [WorkerRegistryEntry(name="worker")]
        await sock.send(JSON.serialize(request("after")))
        response = await receive(sock)  # the next thing sent is the answer: one registry
        assert isinstance(response, BusJobResponseMessage) and response.job_id == "after"


# --- P10, P11: forwarding ----------------------------------------------------------------


async def test_p10_only_the_workers_messages_to_the_remote_worker_are_sent(make_proxy_app):
    """The client's worker is the proxy's ``peer_bus_name`` on the host's bus; on the wire
    it is the client's own name again. The bare client name is not forwarded: two clients
    may use it (docs/security.md)."""
    worker = Echo("worker")
    app = await make_proxy_app(worker, forward_messages=(BusFrameMessage,))
    async with open_client_socket(app.ws_url()) as sock:
        await receive(sock, BusWorkerRegistryMessage)
        bus = app.runner.bus
        proxy = app.proxies[0]
        assert proxy.peer_bus_name == f"voice@{proxy.name}"

        def update(job_id, source="worker", target=proxy.peer_bus_name):
            return BusJobUpdateMessage(job_id=job_id, update={}, source=source, target=target)

        bus.send(update("bare-name", target="voice"))
        bus.send(update("other-connection", target="voice@gateway-99"))
        bus.send(
            BusFrameMessage(
                frame=TextFrame(text="f"),
                direction=FrameDirection.DOWNSTREAM,
                source="worker",
                target="voice@gateway-99",
            )
        )
        bus.send(update("third", target="third"))
        bus.send(update("other-source", source="other"))
        bus.send(update("broadcast", target=None))
        bus.send(
            BusFrameMessage(
                frame=TextFrame(text="f"),
                direction=FrameDirection.DOWNSTREAM,
                source="worker",
                target="anyone",
            )
        )
        bus.send(update("sent"))
        first = await receive(sock)
        assert isinstance(first, BusFrameMessage) and first.target == "anyone"
        second = await receive(sock)
        assert isinstance(second, BusJobUpdateMessage) and second.job_id == "sent"
        assert second.target == "voice"


async def test_p11_p6_inbound_rules_and_bad_frames_never_stop_the_loop(make_proxy_app):
    inbox = Inbox()
    app = await make_proxy_app(
        forward_messages=(BusFrameMessage,), serializer=JSONMessageSerializer(max_size=4096)
    )
    app.runner.bus.subscribe(inbox)
    async with open_client_socket(app.ws_url()) as sock:
        proxy = await app.next_proxy()
        registry = BusWorkerRegistryMessage(
            runner="runner-a", workers=[WorkerRegistryEntry("voice")], source="runner-a"
        )
        await sock.send(b"\x00garbage")
        await sock.send('{"__type__":"os.system","__data__":"x"}')
        await sock.send(JSON.serialize(request("y" * 5000)))  # over max_size
        await sock.send(JSON.serialize(registry))  # a client's registry: dropped
        await sock.send(JSON.serialize(request("third", target="third")))  # dropped
        await sock.send(JSON.serialize(request("text")).decode())  # text frame: accepted
        frame = BusFrameMessage(
            frame=TextFrame(text="f"),
            direction=FrameDirection.UPSTREAM,
            source="voice",
            target="pipeline",
        )
        await sock.send(JSON.serialize(frame))  # forward type: accepted, any target
        await sock.send(JSON.serialize(request("last")))
        await inbox.next_of(BusJobRequestMessage)
        last = await inbox.next_of(BusJobRequestMessage)
        suffix = f"@{proxy.peer_bus_name}"  # a client's job ids on the host's bus
        assert last.job_id == "last" + suffix
        assert [m.job_id for m in inbox.of(BusJobRequestMessage)] == [
            "text" + suffix,
            "last" + suffix,
        ]
        assert [m.target for m in inbox.of(BusFrameMessage)] == ["pipeline"]
        assert not [m for m in inbox.of(BusWorkerRegistryMessage) if m.source == "runner-a"]
        assert "voice" not in app.runner.registry
        assert proxy.stats.decode_errors == 3 and proxy.stats.dropped == 2
        assert proxy.stats.delivered == 3 and not proxy.finished


# --- P8, P12: ends -----------------------------------------------------------------------


async def test_p12_client_leaving_fires_the_event_once_and_the_proxy_finishes(make_proxy_app):
    app = await make_proxy_app(Echo("worker"), on_proxy=lambda p: setattr(p, "log", []))
    async with open_client_socket(app.ws_url()) as sock:
        proxy = await app.next_proxy()

        @proxy.event_handler("on_client_disconnected")
        async def gone(worker, websocket):
            # An async handler runs to its end before the proxy finishes.
            await trio.lowlevel.checkpoint()
            proxy.log.append(websocket)

        await receive(sock, BusWorkerRegistryMessage)
    with trio.fail_after(LIMIT):
        await proxy.wait()
    assert proxy.log == [proxy._websocket] and proxy.stats.disconnects == 1
    await wait_for(lambda: app.runner.get_worker(proxy.name) is None)  # forgotten


async def test_p8_stop_closes_once_going_away_without_a_disconnect_event(make_proxy_app):
    closes: list[dict] = []

    def spy(proxy):
        websocket = proxy._websocket
        send = websocket.send

        async def counting(message):
            if message["type"] == "websocket.close":
                closes.append(message)
            await send(message)

        websocket.send = counting
        proxy.log = record_events(proxy, "on_client_disconnected")

    app = await make_proxy_app(Echo("worker"), on_proxy=spy)
    async with open_client_socket(app.ws_url()) as sock:
        proxy = await app.next_proxy()
        await receive(sock, BusWorkerRegistryMessage)
        await proxy.stop()
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(LIMIT):
            await sock.receive()
        assert info.value.code == 1001  # going away: a reconnecting client tries again
        await proxy.wait()
    await trio.sleep(0.05)
    assert len(closes) == 1 and proxy.log == []


async def test_runner_end_closes_the_proxy_and_the_client_sees_a_normal_close(make_proxy_app):
    app = await make_proxy_app(Echo("worker"))
    async with open_client_socket(app.ws_url()) as sock:
        await receive(sock, BusWorkerRegistryMessage)
        await app.runner.end("bye")
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(LIMIT):
            await sock.receive()
        assert info.value.normal


# --- refusing a handshake ----------------------------------------------------------------


async def test_wrong_token_is_refused_with_401_and_no_proxy_is_made(make_proxy_app):
    def authorize(headers):
        return headers.get("authorization") == "Bearer right"

    app = await make_proxy_app(Echo("worker"), authorize=authorize)
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(app.ws_url(), headers={"Authorization": "Bearer wrong"}):
            pass
    assert info.value.status == 401
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(app.ws_url()):
            pass
    assert info.value.status == 401
    await wait_for(lambda: app.refused == 2)  # the endpoint counts after the response went
    assert app.proxies == []

    async with open_client_socket(app.ws_url(), headers={"Authorization": "Bearer right"}) as s:
        await receive(s, BusWorkerRegistryMessage)


async def test_origin_outside_the_allowlist_is_refused_with_403(make_proxy_app):
    app = await make_proxy_app(Echo("worker"), allowed_origins={"https://app.example.com"})
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(app.ws_url(), headers={"Origin": "https://evil.test"}):
            pass
    assert info.value.status == 403
    headers = {"Origin": "https://app.example.com"}
    async with open_client_socket(app.ws_url(), headers=headers) as sock:
        await receive(sock, BusWorkerRegistryMessage)


# --- reliability -------------------------------------------------------------------------


async def test_a_client_that_stops_reading_cannot_hold_a_send_and_others_go_on(make_proxy_app):
    """Session 1 floods a client that never reads: Hypercorn's shielded write blocks, the
    watchdog aborts that connection only, the proxy finishes; session 2 is untouched."""
    app = await make_proxy_app(Echo("worker"), write_timeout=0.5)
    async with (
        open_client_socket(app.ws_url("voice-1")) as stuck,
        open_client_socket(app.ws_url("voice-2")) as healthy,
    ):
        first = await app.next_proxy()
        second = await app.next_proxy()
        assert first.websocket.can_abort
        log = record_events(first, "on_client_disconnected")
        await receive(healthy, BusWorkerRegistryMessage)
        await stuck.send(JSON.serialize(request("f", name="flood", source="voice-1")))
        with trio.fail_after(LIMIT):
            await first.wait()
        assert len(log) == 1 and first.websocket.close_reason.code == 1006
        for i in range(3):
            await healthy.send(JSON.serialize(request(f"h{i}", source="voice-2")))
            response = await receive(healthy, BusJobResponseMessage)
            assert response.job_id == f"h{i}" and response.target == "voice-2"
        assert not second.finished and second.stats.disconnects == 0


async def test_a_client_vanishing_without_close_frame_is_detected(make_proxy_app):
    app = await make_proxy_app(Echo("worker"))
    async with open_client_socket(app.ws_url()) as sock:
        proxy = await app.next_proxy()
        log = record_events(proxy, "on_client_disconnected")
        await receive(sock, BusWorkerRegistryMessage)
        sock.abort()  # TCP reset/FIN, no WebSocket close frame
    with trio.fail_after(LIMIT):
        await proxy.wait()
    assert len(log) == 1


async def test_one_sessions_garbage_and_death_never_touch_another(make_proxy_app):
    app = await make_proxy_app(Echo("worker"))
    async with (
        open_client_socket(app.ws_url("voice-1")) as bad,
        open_client_socket(app.ws_url("voice-2")) as good,
    ):
        await receive(bad, BusWorkerRegistryMessage)
        await receive(good, BusWorkerRegistryMessage)
        for _ in range(50):
            await bad.send(b"\xff" * 100)
        bad.abort()
        for i in range(5):
            await good.send(JSON.serialize(request(f"g{i}", source="voice-2")))
            response = await receive(good, BusJobResponseMessage)
            assert response.job_id == f"g{i}"
    assert app.proxies[0].stats.decode_errors <= 50
    assert app.proxies[1].stats.decode_errors == 0


async def test_per_connection_proxies_do_not_pile_up(make_proxy_app):
    """100 connections one after another: the runner, its registry and the bus are back
    to where they were, and the proxy name is free again each time."""
    app = await make_proxy_app(Echo("worker"))
    runner = app.runner
    baseline = None
    for i in range(100):
        async with open_client_socket(app.ws_url()) as sock:
            await receive(sock, BusWorkerRegistryMessage)
            await sock.send(JSON.serialize(request(f"j{i}")))
            await receive(sock, BusJobResponseMessage)
        proxy = app.proxies[-1]
        with trio.fail_after(LIMIT):
            await proxy.wait()
        await wait_for(lambda p=proxy: runner.get_worker(p.name) is None)
        if baseline is None:
            baseline = (
                len(runner._entries),
                len(runner.bus._subscriptions),
                runner.registry.local_workers,
                runner.registry.watch_count,
            )
    assert baseline == (1, 2, ["worker"], 1)
    assert (
        len(runner._entries),
        len(runner.bus._subscriptions),
        runner.registry.local_workers,
        runner.registry.watch_count,
    ) == baseline


async def test_stream_data_to_the_client(make_proxy_app):
    """A job streams over the proxy; chunks arrive in order."""

    class Streamer(BaseWorker):
        @job(name="stream")
        async def stream(self, message):
            for i in range(20):
                await self.send_job_stream_data(message.job_id, {"i": i})
            await self.send_job_stream_end(message.job_id)

    app = await make_proxy_app(Streamer("worker"))
    async with open_client_socket(app.ws_url()) as sock:
        await receive(sock, BusWorkerRegistryMessage)
        await sock.send(JSON.serialize(request("s", name="stream")))
        chunks = [(await receive(sock, BusJobStreamDataMessage)).data["i"] for _ in range(20)]
        assert chunks == list(range(20))
