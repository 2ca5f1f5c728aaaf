"""WebSocketProxyClient over real sockets: connecting, forwarding, inbound rules, bad
frames, closes, stop, reconnect, timeouts (P1-P8 on the client side)."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from worker_helpers import record_events, start_runner

from tests.workers.proxy.proxy_helpers import LIMIT, Inbox, serving, wait_for
from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobUpdateMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerRegistryMessage,
    WorkerRegistryEntry,
)
from trio_pipe.frames import TextFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.workers.proxy import Reconnect, WebSocketProxyClient
from trio_pipe.ws.base import ConnectionClosed, WriteTimeout

JSON = JSONMessageSerializer()


def client(url: str, name: str = "proxy", **kwargs) -> WebSocketProxyClient:
    kwargs.setdefault("remote_worker_name", "worker")
    kwargs.setdefault("local_worker_name", "voice")
    return WebSocketProxyClient(name, url=url, **kwargs)


async def frames_until(sock, sentinel_job_id: str) -> list:
    """Decode what the proxy sent until the sentinel job request arrives."""
    got = []
    with trio.fail_after(LIMIT):
        while True:
            message = JSON.deserialize(await sock.receive())
            got.append(message)
            if getattr(message, "job_id", None) == sentinel_job_id:
                return got


def sentinel(job_id: str = "sentinel") -> BusJobRequestMessage:
    return BusJobRequestMessage(job_id=job_id, source="voice", target="worker")


# --- P1: connecting ----------------------------------------------------------------------


async def test_p1_inactive_client_connects_only_when_activated_with_its_headers(
    nursery, raw_server
):
    proxy = client(raw_server.url, headers={"Authorization": "Bearer t0k", "X-Session": "42"})
    log = record_events(proxy, "on_connected", "on_disconnected")
    runner = await start_runner(nursery, proxy)
    await trio.sleep(0.05)  # give a wrong implementation time to connect anyway
    assert raw_server.handshakes == 0 and not proxy.connected

    runner.bus.send(BusActivateWorkerMessage(source="voice", target="proxy"))
    connection = await raw_server.next_connection()
    assert connection.headers["authorization"] == "Bearer t0k"
    assert connection.headers["x-session"] == "42"
    await wait_for(lambda: log)
    assert log == [("on_connected", proxy.websocket)] and proxy.connected


async def test_active_client_connects_before_run_reports_started(nursery, raw_server):
    proxy = client(raw_server.url, active=True)
    await start_runner(nursery, proxy)
    assert proxy.connected  # on_activated returned once connected
    await raw_server.next_connection()


async def test_activation_while_connected_opens_no_second_connection(nursery, raw_server):
    proxy = client(raw_server.url, active=True)
    runner = await start_runner(nursery, proxy)
    await raw_server.next_connection()
    for _ in range(3):
        runner.bus.send(BusActivateWorkerMessage(source="voice", target="proxy"))
    await trio.sleep(0.05)
    assert raw_server.handshakes == 1 and proxy.stats.connects == 1


async def test_failed_connect_reports_an_error_and_the_worker_stays_alive(nursery, caplog):
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    url = f"ws://127.0.0.1:{listener.getsockname()[1]}/ws"
    listener.close()  # nobody listens there
    proxy = client(url, active=True)
    inbox = Inbox()
    bus = LocalBus()
    bus.subscribe(inbox)  # before the runner starts: the connect happens in start
    await start_runner(nursery, proxy, bus=bus)
    assert not proxy.connected and not proxy.finished
    assert url in caplog.text
    error = await inbox.next_of(BusWorkerErrorMessage)
    assert error.source == "proxy" and "cannot connect" in error.error


# --- P2-P4: outbound ---------------------------------------------------------------------


async def test_p2_p3_p4_what_the_client_sends(nursery, raw_server):
    proxy = client(raw_server.url, active=True, forward_messages=(BusFrameMessage,))
    runner = await start_runner(nursery, proxy)
    connection = await raw_server.next_connection()
    bus = runner.bus

    def frame(source, target=None):
        return BusFrameMessage(
            frame=TextFrame(text="f"),
            direction=FrameDirection.DOWNSTREAM,
            source=source,
            target=target,
        )

    bus.send(BusJobRequestMessage(job_id="p2", source="third-party", target="worker"))  # P2
    bus.send(BusJobRequestMessage(job_id="p3-broadcast", source="voice"))  # P3
    bus.send(BusJobRequestMessage(job_id="p3-third", source="voice", target="third"))
    bus.send(frame("voice", "anyone"))  # P4: from the local worker, any target
    bus.send(frame("other", "worker"))  # P4: not from the local worker... but targeted
    bus.send(frame("other"))  # P4: not sent
    bus.send(sentinel())
    got = await frames_until(connection.sock, "sentinel")
    kinds = [(type(m).__name__, m.source, m.target, getattr(m, "job_id", None)) for m in got]
    assert kinds == [
        ("BusJobRequestMessage", "third-party", "worker", "p2"),
        ("BusFrameMessage", "voice", "anyone", None),
        ("BusFrameMessage", "other", "worker", None),
        ("BusJobRequestMessage", "voice", "worker", "sentinel"),
    ]
    assert proxy.stats.sent == 4


# --- P5, P6: inbound ---------------------------------------------------------------------


async def test_p5_p6_what_the_client_accepts_and_bad_frames_never_stop_its_loop(
    nursery, raw_server
):
    proxy = client(
        raw_server.url,
        active=True,
        forward_messages=(BusFrameMessage,),
        serializer=JSONMessageSerializer(max_size=4096),
    )
    runner = await start_runner(nursery, proxy)
    inbox = Inbox()
    runner.bus.subscribe(inbox)
    sock = (await raw_server.next_connection()).sock

    def update(job_id, target="voice"):
        return JSON.serialize(
            BusJobUpdateMessage(job_id=job_id, update={}, source="worker", target=target)
        )

    await sock.send(b"\x00garbage")  # malformed
    await sock.send(b'{"__type__":"os.system","__data__":"rm -rf"}')  # unknown type
    await sock.send(update("x" * 5000))  # over the serializer's max_size
    await sock.send(update("third", target="third"))  # wrong target: dropped
    await sock.send(update("text").decode())  # a text frame: accepted
    registry = BusWorkerRegistryMessage(
        runner="runner-b", workers=[WorkerRegistryEntry("worker")], source="gateway"
    )
    await sock.send(JSON.serialize(registry))  # registry: accepted whatever its target
    await sock.send(
        JSON.serialize(
            BusFrameMessage(
                frame=TextFrame(text="f"),
                direction=FrameDirection.UPSTREAM,
                source="worker",
                target="somebody",
            )
        )
    )
    await sock.send(update("last"))
    last = await inbox.next_of(BusJobUpdateMessage)
    assert last.job_id == "text"
    last = await inbox.next_of(BusJobUpdateMessage)
    assert last.job_id == "last"
    assert [m.job_id for m in inbox.of(BusJobUpdateMessage)] == ["text", "last"]
    assert inbox.of(BusWorkerRegistryMessage)[0].source == "gateway"
    assert inbox.of(BusFrameMessage)[0].target == "somebody"
    assert runner.registry.get("worker").runner == "runner-b"  # the runner took the registry
    assert proxy.stats.decode_errors == 3 and proxy.stats.dropped == 1
    assert proxy.stats.delivered == 4 and proxy.connected


# --- P7, P8: closes ----------------------------------------------------------------------


async def test_p7_normal_close_fires_on_disconnected_once_and_reactivation_reconnects(
    nursery, raw_server
):
    proxy = client(raw_server.url, active=True)
    log = record_events(proxy, "on_connected", "on_disconnected")
    runner = await start_runner(nursery, proxy)
    first = await raw_server.next_connection()
    await first.sock.close(1000, "bye")
    await wait_for(lambda: len(log) == 2)
    assert [e[0] for e in log] == ["on_connected", "on_disconnected"]
    assert not proxy.connected and not proxy.finished
    assert log[1][1].close_reason.code == 1000

    runner.bus.send(BusActivateWorkerMessage(source="voice", target="proxy"))
    second = await raw_server.next_connection()
    await wait_for(lambda: len(log) == 3)
    assert log[2][0] == "on_connected" and proxy.connected
    await second.sock.send(JSON.serialize(sentinel()))  # still the same worker, serving
    await trio.sleep(0.05)
    assert [e[0] for e in log] == ["on_connected", "on_disconnected", "on_connected"]


async def test_abnormal_close_fires_on_disconnected_once(nursery, raw_server):
    proxy = client(raw_server.url, active=True)
    log = record_events(proxy, "on_disconnected")
    await start_runner(nursery, proxy)
    connection = await raw_server.next_connection()
    connection.sock.abort()  # TCP gone, no close frame
    await wait_for(lambda: log)
    await trio.sleep(0.05)
    assert len(log) == 1 and proxy.stats.disconnects == 1


async def test_p8_stop_closes_normally_without_a_disconnect_event(nursery, raw_server):
    proxy = client(raw_server.url, active=True)
    log = record_events(proxy, "on_disconnected")
    await start_runner(nursery, proxy)
    connection = await raw_server.next_connection()
    sock = proxy.websocket
    await proxy.stop()
    assert not sock.is_open and sock.close_reason.code == 1000
    with pytest.raises(ConnectionClosed), trio.fail_after(LIMIT):
        await connection.sock.receive()
    await proxy.wait()
    await trio.sleep(0.05)
    assert log == [] and proxy.stats.disconnects == 0


async def test_send_on_a_closed_connection_fires_on_disconnected_once(nursery, raw_server):
    """Pipecat's path for a lost connection: a send fails. Ours fires the event once."""
    proxy = client(raw_server.url, active=True)
    log = record_events(proxy, "on_disconnected")
    runner = await start_runner(nursery, proxy)
    connection = await raw_server.next_connection()
    await connection.sock.close(1001)
    for i in range(5):
        runner.bus.send(sentinel(f"s{i}"))
    await wait_for(lambda: log)
    await trio.sleep(0.05)
    assert len(log) == 1


# --- reliability: a server that stops reading, or vanishes -------------------------------


async def test_a_server_that_stops_reading_cannot_hold_a_send(nursery):
    """The endpoint never receives: Hypercorn's app queue fills, it stops reading, TCP
    backs up and the proxy's send blocks until the write timeout aborts the connection."""
    stuck = trio.Event()

    async def endpoint(websocket):
        await websocket.accept()
        await stuck.wait()

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    proxy = client(served.ws_url("/ws"), active=True, write_timeout=0.5)
    log = record_events(proxy, "on_disconnected")
    runner = await start_runner(nursery, proxy)
    big = "x" * (1 << 20)
    for _ in range(200):  # 200 MiB: far beyond what the socket buffers hold
        runner.bus.send(BusTTSSpeakMessage(text=big, source="voice", target="worker"))
    await wait_for(lambda: log)
    assert isinstance(log[0][1].close_reason, WriteTimeout)
    assert not proxy.connected and not proxy.finished
    stuck.set()


async def test_a_server_that_vanishes_silently_is_detected_by_ping(nursery):
    """A server that completes the handshake and then says nothing, not even a pong."""
    import base64
    import hashlib

    async def silent(stream):
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    proxy = client(f"ws://127.0.0.1:{port}/ws", active=True, ping_interval=0.05, ping_timeout=0.2)
    log = record_events(proxy, "on_disconnected")
    await start_runner(nursery, proxy)
    assert proxy.connected
    await wait_for(lambda: log)
    assert "no pong" in log[0][1].close_reason.reason


# --- opt-in reconnect --------------------------------------------------------------------


def flaky_app(statuses: list[int], accepted: list[object]) -> Starlette:
    """Refuses handshakes with the given statuses first, then accepts and serves until
    the test closes the connection (``accepted`` gets each accepted websocket)."""

    async def endpoint(websocket):
        if statuses:
            status = statuses.pop(0)
            await websocket.send_denial_response(PlainTextResponse("no", status_code=status))
            return
        await websocket.accept()
        accepted.append(websocket)
        try:
            while True:
                await websocket.receive_bytes()
        except Exception:
            return

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


async def test_reconnect_retries_a_failed_connect_with_backoff(nursery):
    accepted: list[object] = []
    served = await nursery.start(serve_asgi, flaky_app([503, 503], accepted))
    policy = Reconnect(initial_delay=0.01, max_delay=0.05)
    proxy = client(served.ws_url("/ws"), active=True, reconnect=policy)
    log = record_events(proxy, "on_connected")
    await start_runner(nursery, proxy)
    assert not proxy.connected  # on_activated returned after the first failure
    await wait_for(lambda: log)
    assert len(accepted) == 1 and proxy.stats.connects == 1


async def test_reconnect_after_a_lost_connection(nursery, raw_server):
    proxy = client(raw_server.url, active=True, reconnect=Reconnect(initial_delay=0.01))
    log = record_events(proxy, "on_connected", "on_disconnected")
    await start_runner(nursery, proxy)
    first = await raw_server.next_connection()
    first.sock.abort()
    await raw_server.next_connection()
    await wait_for(lambda: len(log) == 3)
    assert [e[0] for e in log] == ["on_connected", "on_disconnected", "on_connected"]


async def test_reconnect_stops_after_a_normal_close(nursery, raw_server):
    proxy = client(raw_server.url, active=True, reconnect=Reconnect(initial_delay=0.01))
    await start_runner(nursery, proxy)
    first = await raw_server.next_connection()
    await first.sock.close(1000)
    await wait_for(lambda: proxy.stats.disconnects == 1)
    await trio.sleep(0.1)
    assert raw_server.handshakes == 1 and not proxy.finished


async def test_reconnect_never_retries_a_refused_handshake_and_gives_up(nursery):
    accepted: list[object] = []
    served = await nursery.start(serve_asgi, flaky_app([401, 503, 503, 503, 503], accepted))
    proxy = client(served.ws_url("/ws"), active=True, reconnect=Reconnect(initial_delay=0.01))
    await start_runner(nursery, proxy)
    await trio.sleep(0.1)
    assert proxy.stats.connects == 0 and not proxy._maintaining  # 401: no retry

    policy = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=2)
    statuses = [503] * 10
    served = await nursery.start(serve_asgi, flaky_app(statuses, accepted))
    other = client(served.ws_url("/ws"), "other", active=True, reconnect=policy)
    await start_runner(nursery, other)
    await wait_for(lambda: not other._maintaining)
    assert len(statuses) == 10 - 3  # the first attempt and two more
    assert accepted == [] and not other.finished


async def test_client_leaves_nothing_running(nursery, raw_server, live_tasks):
    before = live_tasks()
    proxy = client(raw_server.url, active=True, reconnect=True)
    async with trio.open_nursery() as inner:
        await start_runner(inner, proxy)
        await raw_server.next_connection()
        inner.cancel_scope.cancel()
    assert proxy.finished and proxy.websocket is None
    left = [t.name for t in live_tasks() - before if not serving(t)]
    assert left == []
