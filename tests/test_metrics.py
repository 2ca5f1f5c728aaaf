"""Prometheus metrics: /metrics scraped over HTTP matches what the sessions did."""

from __future__ import annotations

import gc
from functools import partial

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from trio_websocket import open_websocket_url

from trio_pipe.bots.echo import echo_app
from trio_pipe.bus.bus import LocalBus
from trio_pipe.bus.messages import BusJobRequestMessage, BusJobResponseMessage, JobStatus
from trio_pipe.metrics import Buckets, Metrics
from trio_pipe.serializers.raw import RawPCMSerializer
from trio_pipe.serving import serve_asgi

CHUNK = b"\x01\x00" * 320  # 20 ms of 16 kHz PCM16
CHUNKS = 10


@pytest.fixture
def metrics():
    m = Metrics()
    yield m
    m.close()


async def scrape(host: str, port: int, path: str = "/metrics") -> tuple[int, str]:
    """A plain HTTP/1.1 GET over a Trio socket: (status, body)."""
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = _unchunk(body)
    return int(head.split()[1]), body.decode()


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def one_session(url: str, *, bad_text: bool) -> tuple[int, int]:
    """Send CHUNKS chunks (and a text message, which raw PCM cannot decode); read the echo
    back; return (messages, bytes) received."""
    received = messages = 0
    async with open_websocket_url(url) as ws:
        if bad_text:
            await ws.send_message("not audio")
        for _ in range(CHUNKS):
            await ws.send_message(CHUNK)
        while received < CHUNKS * len(CHUNK):
            received += len(await ws.get_message())
            messages += 1
    return messages, received


async def test_scraped_figures_match_the_sessions(metrics: Metrics) -> None:
    app = echo_app("raw", in_rate=16000, out_rate=16000, turns=False)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            served = await nursery.start(partial(serve_asgi, app, metrics=metrics, metrics_port=0))
            assert served.metrics_port not in (None, served.port)
            url = served.ws_url("/ws")
            first = await one_session(url, bad_text=True)
            second = await one_session(url, bad_text=False)
            for _ in range(200):  # the server side notices the closes
                if metrics.sessions.open == 0:
                    break
                await trio.sleep(0.02)
            status, text = await scrape("127.0.0.1", served.metrics_port)
            missing, _ = await scrape("127.0.0.1", served.metrics_port, "/other")
            nursery.cancel_scope.cancel()
    assert status == 200 and missing == 404
    got = samples(text)

    def value(name: str, **labels: str) -> float:
        return got[("trio_pipe_" + name, tuple(sorted(labels.items())))]

    assert value("sessions_opened_total") == 2
    assert value("sessions_open") == 0
    assert value("sessions_ended_total", reason="client closed") == 2
    assert value("messages_in_total") == 2 * CHUNKS + 1
    assert value("bytes_in_total") == 2 * CHUNKS * len(CHUNK) + len("not audio")
    assert value("messages_out_total") == first[0] + second[0]
    assert value("bytes_out_total") == first[1] + second[1]
    assert value("serializer_decode_errors_total") == 1
    assert value("input_dropped_messages_total") == 1
    writes = value("output_pacing_lag_seconds_count")
    # every paced write but each session's first (it has no slot yet)
    assert writes == first[0] + second[0] - 2
    assert value("output_pacing_lag_seconds_bucket", le="+Inf") == writes
    assert value("output_send_time_error_seconds_count") == writes
    # tracking keeps nothing alive, and the counts of what is gone stay
    gc.collect()
    assert not metrics._tracked["input_transport"].live
    assert not metrics._tracked["serializer"].live
    again = samples(metrics.render().decode())
    assert again[("trio_pipe_serializer_decode_errors_total", ())] == 1
    assert again[("trio_pipe_input_dropped_messages_total", ())] == 1


def test_counts_of_collected_objects_are_kept(metrics: Metrics) -> None:
    serializer = RawPCMSerializer(sample_rate=16000)
    serializer.decode_errors = 3
    text = metrics.render().decode()
    assert samples(text)[("trio_pipe_serializer_decode_errors_total", ())] == 3
    del serializer
    gc.collect()
    later = RawPCMSerializer(sample_rate=16000)
    later.decode_errors = 1
    text = metrics.render().decode()
    assert samples(text)[("trio_pipe_serializer_decode_errors_total", ())] == 4


def test_nothing_is_tracked_without_active_metrics() -> None:
    m = Metrics()
    m.close()
    serializer = RawPCMSerializer(sample_rate=16000)
    serializer.decode_errors = 5
    assert samples(m.render().decode())[("trio_pipe_serializer_decode_errors_total", ())] == 0


def test_buckets_are_cumulative() -> None:
    b = Buckets((0.01, 0.1))
    for v in (0.005, 0.05, 0.05, 3.0):
        b.observe(v)
    assert b.cumulative() == [("0.01", 1), ("0.1", 3), ("+Inf", 4)]
    assert b.count == 4 and b.total == pytest.approx(3.105)


async def test_job_outcomes_and_latency_per_worker(metrics: Metrics, autojump_clock) -> None:
    bus = LocalBus()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run)
            metrics.watch_bus(bus)
            for i, (secs, status) in enumerate(
                [(0.004, JobStatus.COMPLETED), (0.2, JobStatus.COMPLETED), (1, JobStatus.ERROR)]
            ):
                bus.send(BusJobRequestMessage(source="asker", target="w", job_id=f"j{i}"))
                await trio.sleep(secs)
                bus.send(
                    BusJobResponseMessage(source="w", target="asker", job_id=f"j{i}", status=status)
                )
                await trio.sleep(0.001)
            nursery.cancel_scope.cancel()
    got = samples(metrics.render().decode())
    assert got[("trio_pipe_job_responses_total", (("status", "completed"), ("worker", "w")))] == 2
    assert got[("trio_pipe_job_responses_total", (("status", "error"), ("worker", "w")))] == 1
    assert got[("trio_pipe_job_latency_seconds_count", (("worker", "w"),))] == 3
    assert got[("trio_pipe_job_latency_seconds_bucket", (("le", "0.005"), ("worker", "w")))] == 1
    assert got[("trio_pipe_job_latency_seconds_bucket", (("le", "0.25"), ("worker", "w")))] == 2


def test_redis_bus_and_proxy_figures(metrics: Metrics) -> None:
    import coredis

    from trio_pipe.bus.messages import BusEndMessage
    from trio_pipe.bus.redis import RedisBus
    from trio_pipe.workers.proxy.websocket import WebSocketProxyClient

    bus = RedisBus(redis=coredis.Redis(host="127.0.0.1", port=1), max_pending=2)
    for _ in range(3):  # not running: two wait to be published, the third is refused
        bus.publish(BusEndMessage(source="me"))
    bus.resubscriptions = 4
    proxy = WebSocketProxyClient(
        "to-research", url="ws://127.0.0.1:1/ws", remote_worker_name="r", local_worker_name="l"
    )
    proxy.stats.sent, proxy.stats.received, proxy.stats.decode_errors = 5, 7, 1
    got = samples(metrics.render().decode())
    assert got[("trio_pipe_redis_bus_publish_queue", ())] == 2
    assert got[("trio_pipe_redis_bus_publish_dropped_total", ())] == 1
    assert got[("trio_pipe_redis_bus_reconnects_total", ())] == 4
    worker = (("worker", "to-research"),)
    assert got[("trio_pipe_proxy_links_open", worker)] == 0
    assert got[("trio_pipe_proxy_backlog", worker)] == 0
    assert got[("trio_pipe_proxy_messages_total", (("direction", "sent"), *worker))] == 5
    assert got[("trio_pipe_proxy_messages_total", (("direction", "received"), *worker))] == 7
    assert got[("trio_pipe_proxy_decode_errors_total", worker)] == 1
