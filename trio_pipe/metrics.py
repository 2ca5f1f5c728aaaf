"""Prometheus metrics for a trio_pipe process (opt-in, cheap).

::

    metrics = Metrics()                                   # turns collection on
    served = await nursery.start(partial(serve_asgi, app, metrics=metrics, metrics_port=9100))
    metrics.watch_bus(runner.bus)                         # job outcomes and latency
    # curl http://127.0.0.1:9100/metrics

What is exported (all names start with ``trio_pipe_``):

* sessions: ``sessions_opened_total``, ``sessions_open``, ``sessions_ended_total{reason}``
  (``client closed``, ``server closed``, ``server stopped``, ``error``), and the
  WebSocket ``messages_{in,out}_total`` / ``bytes_{in,out}_total`` of those sessions
  (text messages count their characters), from the ASGI wrapper :meth:`Metrics.asgi`;
* drops and decode errors: ``input_dropped_messages_total``,
  ``input_dropped_audio_frames_total``, ``output_dropped_frames_total``,
  ``serializer_decode_errors_total``, ``serializer_encode_errors_total``;
* output pacing: ``output_pacing_lag_seconds`` (how late each paced audio write left
  after its slot, 0 when on time) and ``output_send_time_error_seconds`` (how far from its
  slot, either way), histograms;
* jobs seen on watched buses: ``job_responses_total{worker,status}`` and
  ``job_latency_seconds{worker}`` (request to final response);
* proxies: ``proxy_links_open{worker}``, ``proxy_backlog{worker}`` (bus messages waiting
  to be forwarded), ``proxy_messages_total{worker,direction}``,
  ``proxy_decode_errors_total{worker}``, ``proxy_dropped_total{worker}``;
* RedisBus: ``redis_bus_reconnects_total``, ``redis_bus_disconnects_total``,
  ``redis_bus_publish_queue`` (waiting to be published), ``redis_bus_publish_dropped_total``,
  ``redis_bus_decode_errors_total``.

Cost: counters are read from the objects' own counters when ``/metrics`` is scraped (a
custom collector), not updated on the hot path. Objects register themselves with
:func:`trio_pipe.tracked.track` when they are created, only while a :class:`Metrics` is
active (weakly: tracking keeps nothing alive); a tracked object's counters live in a
small dict of its own that outlives it, so the counts of finished sessions are kept and
counters never go down. The per-message work is the session wrapper's few additions, two
counter reads per received message (~0.5 µs) and, per paced audio write and per job, one
histogram bucket.
"""

from __future__ import annotations

import bisect
import inspect
import math
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from trio_pipe.bus.messages import BusJobRequestMessage, BusJobResponseMessage, BusMessage
from trio_pipe.session_watch import SessionCounters, watch_sessions
from trio_pipe.tracked import set_tracker
from trio_pipe.transports.pacing import Pacer

__all__ = ["Buckets", "Metrics", "SessionCounters"]

_PREFIX = "trio_pipe_"
PACING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Open job requests remembered for their latency; the oldest are forgotten past this.
_MAX_OPEN_JOBS = 100_000


class Buckets:
    """A histogram's buckets, sum and count: ``observe`` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """Values observed."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: (upper bound, values <= it), ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else repr(bound), running))
        return out


_CELL = "_trio_pipe_counts"


class _Counter:
    """A counter attribute kept in a small dict of the instance's own (``_CELL``), so that
    its final value can be read after the instance is gone without keeping the instance
    alive. Installed on a tracked class by :class:`_Tracked`; instances without a cell
    (created while no metrics were active) keep the value in their ``__dict__``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        cell = state.get(_CELL)
        if cell is not None:
            return cell[self.name]
        return state.get(self.name, 0)

    def __set__(self, obj: Any, value: Any) -> None:
        state = obj.__dict__
        cell = state.get(_CELL)
        if cell is not None:
            cell[self.name] = value
        else:
            state[self.name] = value


class _Tracked:
    """Live objects of one kind (weakly) and the final counters of those that are gone."""

    def __init__(self, counters: tuple[str, ...]) -> None:
        self.counters = counters
        self.live: weakref.WeakSet[object] = weakref.WeakSet()
        self.retired: dict[str, float] = dict.fromkeys(counters, 0)

    def add(self, obj: object) -> None:
        if obj in self.live:
            return
        self.live.add(obj)
        state = getattr(obj, "__dict__", None)
        if state is None or _CELL in state:
            return
        cls = type(obj)
        names = []
        for name in self.counters:
            existing = inspect.getattr_static(cls, name, None)
            if existing is None:
                setattr(cls, name, _Counter(name))
            elif not isinstance(existing, _Counter):
                continue  # the class defines it (a property): read live only
            names.append(name)
        # The counts move to a cell only the object and the finalizer hold: read when
        # the object is collected, and holding it keeps nothing else alive.
        cell = {name: state.pop(name, 0) for name in names}
        state[_CELL] = cell
        weakref.finalize(obj, self._retire, cell)

    def _retire(self, cell: dict[str, Any]) -> None:
        for name, value in cell.items():
            self.retired[name] += value

    def totals(self) -> dict[str, float]:
        totals = dict(self.retired)
        for obj in list(self.live):
            for name in self.counters:
                totals[name] += getattr(obj, name, 0)
        return totals


_KINDS: dict[str, tuple[str, ...]] = {
    "input_transport": ("dropped_messages", "dropped_audio_frames"),
    "output_transport": ("dropped_frames",),
    "serializer": ("decode_errors", "encode_errors"),
    "redis_bus": (
        "disconnects",
        "resubscriptions",
        "publish_dropped",
        "publish_errors",
        "decode_errors",
    ),
}


class _JobTap:
    """A passive bus subscriber that times job requests to their final response."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self.name = name
        self._metrics = metrics
        self._opened: OrderedDict[str, float] = OrderedDict()
        self.bus_prefilter = self._wanted

    @staticmethod
    def _wanted(message: BusMessage) -> bool:
        return isinstance(message, (BusJobRequestMessage, BusJobResponseMessage))

    def accepts_bus_message(self, message: BusMessage) -> bool:
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        now = trio.current_time()
        if isinstance(message, BusJobRequestMessage):
            self._opened[message.job_id] = now
            if len(self._opened) > _MAX_OPEN_JOBS:
                self._opened.popitem(last=False)
        elif isinstance(message, BusJobResponseMessage):
            worker = message.source or ""
            self._metrics.job_responses[(worker, str(message.status))] += 1
            started = self._opened.pop(message.job_id, None)
            if started is not None:
                buckets = self._metrics.job_latency.get(worker)
                if buckets is None:
                    buckets = self._metrics.job_latency[worker] = Buckets(LATENCY_BUCKETS)
                buckets.observe(now - started)


class Metrics:
    """Collects trio_pipe's figures and renders them for Prometheus.

    Creating one makes it the process's active collector (objects created from then on
    are tracked, :func:`trio_pipe.tracked.track`) and hooks the output pacing histograms;
    :meth:`close` undoes both.
    """

    def __init__(self) -> None:
        self.sessions = SessionCounters()
        self.pacing_lag = Buckets(PACING_BUCKETS)
        self.send_time_error = Buckets(PACING_BUCKETS)
        self.job_responses: dict[tuple[str, str], int] = defaultdict(int)
        self.job_latency: dict[str, Buckets] = {}
        self._tracked: dict[str, _Tracked] = defaultdict(lambda: _Tracked(()))
        for kind, counters in _KINDS.items():
            self._tracked[kind] = _Tracked(counters)
        self._proxies: weakref.WeakSet[Any] = weakref.WeakSet()
        self._tracked["proxy"] = _ProxyTracked(self._proxies)  # type: ignore[assignment]
        self._taps: list[_JobTap] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))  # type: ignore[arg-type]
        set_tracker(self)
        Pacer.observer = self._observe_pacing

    def track(self, obj: object, kind: str) -> None:
        """Read ``obj``'s counters when scraped (see :func:`trio_pipe.tracked.track`)."""
        self._tracked[kind].add(obj)

    def close(self) -> None:
        """Stop collecting (tracking and the pacing hook)."""
        set_tracker(None)
        if Pacer.observer == self._observe_pacing:
            Pacer.observer = None

    def _observe_pacing(self, now: float, slot: float) -> None:
        late = now - slot
        self.pacing_lag.observe(late if late > 0 else 0.0)
        self.send_time_error.observe(abs(late))

    # --- inputs ------------------------------------------------------------------------------

    def watch_bus(self, bus: Any) -> None:
        """Time the jobs seen on ``bus`` (a passive subscriber that takes only job
        requests and responses)."""
        tap = _JobTap(self, f"metrics-job-tap#{len(self._taps)}")
        self._taps.append(tap)
        bus.subscribe(tap)

    def asgi(self, app: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """``app`` with its WebSocket sessions and their traffic counted (other scopes
        pass through; see :func:`trio_pipe.session_watch.watch_sessions`)."""
        return watch_sessions(app, self.sessions, self.sessions)

    # --- output ------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def endpoint(self) -> Callable[..., Awaitable[Any]]:
        """An ASGI app serving :meth:`render` at ``/metrics`` (404 elsewhere)."""

        async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    event = await receive()
                    await send({"type": event["type"] + ".complete"})
                    if event["type"] == "lifespan.shutdown":
                        return
            if scope["type"] != "http":
                return
            if scope["path"] == "/metrics":
                status, body = 200, self.render()
            else:
                status, body = 404, b"not found\n"
            headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app


class _ProxyTracked:
    """Proxy workers: counters from their ``ProxyStats``, link and backlog live."""

    def __init__(self, proxies: weakref.WeakSet[Any]) -> None:
        self.live = proxies
        self.retired: dict[tuple[str, str], float] = defaultdict(float)

    def add(self, obj: Any) -> None:
        if obj in self.live:
            return
        self.live.add(obj)
        weakref.finalize(obj, self._retire, obj.name, obj.stats)

    def _retire(self, name: str, stats: Any) -> None:
        for field, value in _proxy_counts(stats):
            self.retired[(name, field)] += value

    def rows(self) -> Iterator[tuple[str, str, float]]:
        totals: dict[tuple[str, str], float] = defaultdict(float, self.retired)
        for proxy in list(self.live):
            for field, value in _proxy_counts(proxy.stats):
                totals[(proxy.name, field)] += value
        for (name, field), value in totals.items():
            yield name, field, value


def _proxy_counts(stats: Any) -> list[tuple[str, float]]:
    fields = ("sent", "received", "decode_errors", "dropped", "connects", "disconnects")
    return [(f, getattr(stats, f, 0)) for f in fields]


def _backlog(proxy: Any) -> int:
    bus = getattr(proxy, "_bus", None)
    subscription = getattr(bus, "_subscriptions", {}).get(proxy.name)
    if subscription is None:
        return 0
    return len(subscription.system) + len(subscription.data)


def _histogram(name: str, doc: str, buckets: dict[tuple[str, ...], Buckets], labels: list[str]):
    family = HistogramMetricFamily(_PREFIX + name, doc, labels=labels)
    for values, b in buckets.items():
        family.add_metric(list(values), b.cumulative(), b.total)
    return family


class _Collector:
    """Builds every metric family from the counters when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        s = m.sessions
        yield CounterMetricFamily(_PREFIX + "sessions_opened", "Sessions accepted.", s.opened)
        yield GaugeMetricFamily(_PREFIX + "sessions_open", "Sessions open now.", s.open)
        ended = CounterMetricFamily(
            _PREFIX + "sessions_ended", "Sessions ended, by reason.", labels=["reason"]
        )
        for reason, n in sorted(s.ended.items()):
            ended.add_metric([reason], n)
        yield ended
        for name, value, doc in (
            ("messages_in", s.messages_in, "WebSocket messages received by sessions."),
            ("messages_out", s.messages_out, "WebSocket messages sent by sessions."),
            ("bytes_in", s.bytes_in, "Bytes (characters for text) received by sessions."),
            ("bytes_out", s.bytes_out, "Bytes (characters for text) sent by sessions."),
        ):
            yield CounterMetricFamily(_PREFIX + name, doc, value)
        yield from self._drops()
        for name, buckets, doc in (
            ("output_pacing_lag_seconds", m.pacing_lag, "Paced audio writes: lateness."),
            ("output_send_time_error_seconds", m.send_time_error, "Paced writes: |error|."),
        ):
            yield _histogram(name, doc, {(): buckets}, [])
        yield from self._jobs()
        yield from self._proxies()
        yield from self._redis()

    def _drops(self) -> Iterator[Metric]:
        tracked = self._m._tracked
        inputs = tracked["input_transport"].totals()
        outputs = tracked["output_transport"].totals()
        serializers = tracked["serializer"].totals()
        for name, value, doc in (
            ("input_dropped_messages", inputs["dropped_messages"], "Undecodable input."),
            ("input_dropped_audio_frames", inputs["dropped_audio_frames"], "Input audio."),
            ("output_dropped_frames", outputs["dropped_frames"], "Output frames dropped."),
            ("serializer_decode_errors", serializers["decode_errors"], "Decode errors."),
            ("serializer_encode_errors", serializers["encode_errors"], "Encode errors."),
        ):
            yield CounterMetricFamily(_PREFIX + name, doc, value)

    def _jobs(self) -> Iterator[Metric]:
        m = self._m
        responses = CounterMetricFamily(
            _PREFIX + "job_responses",
            "Final job responses seen, by worker and status.",
            labels=["worker", "status"],
        )
        for (worker, status), n in sorted(m.job_responses.items()):
            responses.add_metric([worker, status], n)
        yield responses
        latency = {(w,): b for w, b in m.job_latency.items()}
        yield _histogram("job_latency_seconds", "Job request to response.", latency, ["worker"])

    def _proxies(self) -> Iterator[Metric]:
        proxies: _ProxyTracked = self._m._tracked["proxy"]  # type: ignore[assignment]
        links = GaugeMetricFamily(_PREFIX + "proxy_links_open", "Open links.", labels=["worker"])
        backlog = GaugeMetricFamily(
            _PREFIX + "proxy_backlog", "Bus messages waiting to be forwarded.", labels=["worker"]
        )
        for proxy in list(proxies.live):
            link = getattr(proxy, "_link", None)
            links.add_metric([proxy.name], 1 if link is not None and link.is_open else 0)
            backlog.add_metric([proxy.name], _backlog(proxy))
        yield links
        yield backlog
        counters = {
            "sent": CounterMetricFamily(
                _PREFIX + "proxy_messages",
                "Proxy messages by direction.",
                labels=["worker", "direction"],
            ),
            "decode_errors": CounterMetricFamily(
                _PREFIX + "proxy_decode_errors", "Proxy frames not decoded.", labels=["worker"]
            ),
            "dropped": CounterMetricFamily(
                _PREFIX + "proxy_dropped", "Proxy messages refused.", labels=["worker"]
            ),
        }
        for name, field, value in proxies.rows():
            if field in ("sent", "received"):
                counters["sent"].add_metric([name, field], value)
            elif field in counters:
                counters[field].add_metric([name], value)
        yield from counters.values()

    def _redis(self) -> Iterator[Metric]:
        tracked = self._m._tracked["redis_bus"]
        totals = tracked.totals()
        for name, field, doc in (
            ("redis_bus_reconnects", "resubscriptions", "Resubscriptions after a failure."),
            ("redis_bus_disconnects", "disconnects", "Subscription connection failures."),
            ("redis_bus_publish_dropped", "publish_dropped", "Refused: queue full."),
            ("redis_bus_publish_errors", "publish_errors", "Lost: publish failed."),
            ("redis_bus_decode_errors", "decode_errors", "Channel payloads not decoded."),
        ):
            yield CounterMetricFamily(_PREFIX + name, doc, totals[field])
        queue = sum(getattr(bus, "pending", 0) for bus in list(tracked.live))
        yield GaugeMetricFamily(
            _PREFIX + "redis_bus_publish_queue", "Messages waiting to be published.", queue
        )
