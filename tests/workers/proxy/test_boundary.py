"""The proxy server's trust boundary under attack, over real sockets on Hypercorn.

Each test plays a client that holds a valid connection and tries to steer the host:
end or cancel the session, end/cancel/deactivate the shared worker, speak for another
session, read another session's replies, flood the registry. In each, a second session
runs job round trips the whole time (``Steady``) and must complete every one of them,
and the host must still be up afterwards.
"""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing
from starlette.applications import Starlette

from tests.workers.proxy.proxy_helpers import LIMIT, wait_for
from trio_pipe.bus.messages import (
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerRegistryMessage,
    WorkerReadyData,
    WorkerRegistryEntry,
)
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, WorkerRunner, job
from trio_pipe.workers.proxy import (
    ProxyPolicy,
    RegistryLimits,
    WebSocketProxyClient,
    WebSocketProxyServer,
    proxy_route,
)
from trio_pipe.ws.client import open_client_socket

JSON = JSONMessageSerializer()


class Echo(BaseWorker):
    """``echo`` answers with its payload after one progress update."""

    def __init__(self, name: str = "worker") -> None:
        super().__init__(name)
        self.served: list[str] = []

    @job(name="echo")
    async def echo(self, message):
        self.served.append(message.job_id)
        await self.send_job_update(message.job_id, {"progress": 0.5})
        await self.send_job_response(message.job_id, message.payload)


def request(job_id: str, source: str, target: str = "worker") -> BusJobRequestMessage:
    return BusJobRequestMessage(
        job_id=job_id, job_name="echo", payload={"id": job_id}, source=source, target=target
    )


async def round_trip(sock, job_id: str, source: str, seen: list[BusMessage]) -> None:
    """Send one echo job and read until its response; everything read goes to ``seen``."""
    await sock.send(JSON.serialize(request(job_id, source)))
    with trio.fail_after(LIMIT):
        while True:
            message = JSON.deserialize(await sock.receive())
            seen.append(message)
            if isinstance(message, BusJobResponseMessage) and message.job_id == job_id:
                assert message.response == {"id": job_id}
                return


async def registered(sock) -> None:
    with trio.fail_after(LIMIT):
        while not isinstance(JSON.deserialize(await sock.receive()), BusWorkerRegistryMessage):
            pass


class Steady:
    """A well-behaved session that runs round trips until told to stop."""

    def __init__(self, url: str, name: str = "steady") -> None:
        self.url = url
        self.name = name
        self.completed = 0
        self.seen: list[BusMessage] = []
        self.stop = trio.Event()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with open_client_socket(self.url) as sock:
            await registered(sock)
            await round_trip(sock, f"{self.name}-0", self.name, self.seen)
            self.completed = 1
            task_status.started()
            while not self.stop.is_set():
                await round_trip(sock, f"{self.name}-{self.completed}", self.name, self.seen)
                self.completed += 1
                await trio.sleep(0.001)

    async def finish(self) -> None:
        """Let a few more round trips complete after the attack, then stop."""
        target = self.completed + 3
        await wait_for(lambda: self.completed >= target)
        self.stop.set()

    def foreign(self) -> list[BusMessage]:
        """Messages this session received that were not about its own jobs."""
        return [
            m
            for m in self.seen
            if not str(getattr(m, "job_id", "")).startswith(f"{self.name}-")
            or m.target != self.name
        ]


async def attack(app, messages: list[BusMessage], attacker: str = "mallory") -> object:
    """Open a session as ``attacker``, send ``messages``, then one honest round trip (the
    connection is ordered: once it is answered, the attack was handled); return its proxy."""
    async with open_client_socket(app.ws_url(attacker)) as sock:
        await registered(sock)
        proxy = app.proxies[-1]
        for message in messages:
            await sock.send(JSON.serialize(message))
        await round_trip(sock, "after-attack", attacker, [])
        await trio.testing.wait_all_tasks_blocked()
    return proxy


def host_is_up(app, worker: Echo) -> bool:
    return app.runner._running and not worker.finished and worker.active


LIFECYCLE = {
    "end-session": lambda: BusEndMessage(reason="pwned", source="mallory", target="worker"),
    "cancel-session": lambda: BusCancelMessage(reason="pwned", source="mallory", target="worker"),
    "end-worker": lambda: BusEndWorkerMessage(reason="pwned", source="mallory", target="worker"),
    "cancel-worker": lambda: BusCancelWorkerMessage(
        reason="pwned", source="mallory", target="worker"
    ),
    "deactivate-worker": lambda: BusDeactivateWorkerMessage(source="mallory", target="worker"),
}


@pytest.mark.parametrize("kind", sorted(LIFECYCLE))
async def test_lifecycle_messages_from_a_client_never_reach_the_host(make_proxy_app, nursery, kind):
    worker = Echo()
    app = await make_proxy_app(worker)
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    proxy = await attack(app, [LIFECYCLE[kind]() for _ in range(3)])
    await steady.finish()
    assert host_is_up(app, worker)
    assert proxy.stats.refusals == {"lifecycle message": 3}
    assert proxy.stats.delivered == 1  # the honest round trip
    assert steady.foreign() == []


async def test_a_spoofed_source_is_refused_and_never_answered(make_proxy_app, nursery):
    worker = Echo()
    app = await make_proxy_app(worker)
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    # Requests that speak for the other session, and one with a made-up name.
    spoofs = [request("spoof-1", "steady"), request("spoof-2", "somebody")]
    proxy = await attack(app, spoofs)
    await steady.finish()
    assert "spoof-1" not in worker.served and "spoof-2" not in worker.served
    assert steady.foreign() == []
    assert proxy.stats.refusals == {"source is not the peer": 2}
    assert host_is_up(app, worker)


async def test_two_clients_with_the_same_name_never_see_each_others_jobs(make_proxy_app):
    worker = Echo()
    app = await make_proxy_app(worker)
    seen: dict[str, list[BusMessage]] = {"a": [], "b": []}
    async with (
        open_client_socket(app.ws_url("asker")) as a,
        open_client_socket(app.ws_url("asker")) as b,
    ):
        await registered(a)
        await registered(b)

        async def session(sock, tag: str) -> None:
            for i in range(10):
                await round_trip(sock, f"{tag}-{i}", "asker", seen[tag])

        async with trio.open_nursery() as both:
            both.start_soon(session, a, "a")
            both.start_soon(session, b, "b")
        await trio.testing.wait_all_tasks_blocked()
        # A last round trip each: whatever the host had sent before is read by now.
        await round_trip(a, "a-last", "asker", seen["a"])
        await round_trip(b, "b-last", "asker", seen["b"])
    for tag, messages in seen.items():
        jobs = {m.job_id for m in messages}
        assert all(job_id.startswith(f"{tag}-") for job_id in jobs), (tag, sorted(jobs))
        assert {m.target for m in messages} == {"asker"}  # the client's own name on the wire
        updates = [m for m in messages if isinstance(m, BusJobUpdateMessage)]
        assert len(updates) == 11


def fake_registry(i: int, target: str | None = "worker") -> BusWorkerRegistryMessage:
    return BusWorkerRegistryMessage(
        runner=f"fake-runner-{i}",
        workers=[WorkerRegistryEntry(f"fake-{i}-{k}") for k in range(2)],
        source="mallory",
        target=target,
    )


async def test_a_registry_flood_from_a_client_stores_nothing(make_proxy_app, nursery):
    worker = Echo()
    app = await make_proxy_app(worker)
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    flood = [fake_registry(i, target=("worker" if i % 2 else None)) for i in range(2500)]
    proxy = await attack(app, flood)
    await steady.finish()
    registry = app.runner.registry
    assert registry.remote_workers == []
    assert proxy.stats.refusals == {"registry snapshot": 2500}
    assert host_is_up(app, worker)


# --- widening, per connection ------------------------------------------------------------


async def routed_app(nursery, worker: BaseWorker, **route_kwargs) -> tuple[object, list]:
    """runner-b with ``worker`` behind ``proxy_route`` at /ws; the list gets every proxy."""
    runner = WorkerRunner(name="runner-b", handle_sigint=False)
    await runner.add_workers(worker)
    proxies: list[WebSocketProxyServer] = []
    route = proxy_route(
        runner, "/ws", worker_name=worker.name, on_proxy=proxies.append, **route_kwargs
    )
    served = await nursery.start(serve_asgi, Starlette(routes=[route]))
    await nursery.start(partial(runner.run, auto_end=False))

    class App:
        def ws_url(self, remote: str = "voice") -> str:
            return served.ws_url(f"/ws?worker={remote}")

    app = App()
    app.runner, app.proxies = runner, proxies
    return app, proxies


async def test_a_registry_flood_within_an_opt_in_policy_is_bounded_and_leaves_with_the_client(
    nursery,
):
    worker = Echo()
    limits = RegistryLimits(max_messages=4, max_workers=2)
    app, proxies = await routed_app(nursery, worker, policy=ProxyPolicy(registry=limits))
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    registry = app.runner.registry
    await registry.register(WorkerReadyData("legit", "runner-x"))  # known from elsewhere
    posing = BusWorkerRegistryMessage(
        runner="runner-x",  # passes for the known runner
        workers=[WorkerRegistryEntry("legit"), WorkerRegistryEntry("evil")],
        source="mallory",
        target="worker",
    )
    async with open_client_socket(app.ws_url("mallory")) as sock:
        await registered(sock)
        await sock.send(JSON.serialize(posing))
        for i in range(2500):
            await sock.send(JSON.serialize(fake_registry(i)))
        await round_trip(sock, "after-attack", "mallory", [])
        await trio.testing.wait_all_tasks_blocked()
        assert len(registry.remote_workers) == 1 + 8  # 4 snapshots of 2 workers, no more
        assert registry.get("legit").runner == "runner-x"  # the first filing stands
        proxy = proxies[-1]
        assert proxy.stats.refusals == {"registry over limits": 2497}
    with trio.fail_after(LIMIT):
        await proxy.wait()
    assert registry.remote_workers == ["legit"]  # what it announced left with it, only that
    assert registry.get("legit").runner == "runner-x" and "evil" not in registry
    await steady.finish()
    assert host_is_up(app, worker)


async def test_only_the_connection_the_app_trusts_may_end_the_session(nursery):
    worker = Echo()

    def choose(websocket):
        if websocket.headers.get("x-role") == "operator":
            return ProxyPolicy(allow=(BusEndMessage,))
        return ProxyPolicy()

    app, proxies = await routed_app(nursery, worker, policy=choose)
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    end = BusEndMessage(reason="maintenance", source="mallory", target="worker")
    await attack(app, [end])
    await steady.finish()
    assert host_is_up(app, worker)
    assert proxies[-1].stats.refusals == {"lifecycle message": 1}

    headers = {"X-Role": "operator"}
    async with open_client_socket(app.ws_url("operator"), headers=headers) as sock:
        await registered(sock)
        end = BusEndMessage(reason="maintenance", source="operator", target="worker")
        await sock.send(JSON.serialize(end))
        with trio.fail_after(LIMIT):
            while app.runner._running:  # noqa: ASYNC110 (the runner is in the test's nursery)
                await trio.sleep(0.01)
    assert worker.finished


# --- the client side ---------------------------------------------------------------------


HOST_LIFECYCLE = [
    BusEndMessage(reason="pwned", source="worker", target="voice"),
    BusCancelMessage(reason="pwned", source="worker", target="voice"),
    BusEndWorkerMessage(reason="pwned", source="worker", target="voice"),
    BusCancelWorkerMessage(reason="pwned", source="worker", target="voice"),
    BusDeactivateWorkerMessage(source="worker", target="voice"),
]


@pytest.mark.parametrize("trusting", [False, True], ids=["default", "trusting"])
async def test_a_host_cannot_end_the_clients_session_unless_allowed(nursery, raw_server, trusting):
    voice = BaseWorker("voice")
    proxy = WebSocketProxyClient(
        "proxy",
        url=raw_server.url,
        remote_worker_name="worker",
        local_worker_name="voice",
        active=True,
        policy=ProxyPolicy.trusting() if trusting else None,
    )
    runner = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner.add_workers(voice, proxy)
    done = trio.Event()

    async def run_runner() -> None:
        await runner.run()
        done.set()

    nursery.start_soon(run_runner)
    sock = (await raw_server.next_connection()).sock
    for message in HOST_LIFECYCLE:
        await sock.send(JSON.serialize(message))
    if trusting:  # widened: the host may end it, as with Pipecat
        with trio.fail_after(LIMIT):
            await done.wait()
        return
    reply = BusJobUpdateMessage(job_id="j", update={}, source="worker", target="voice")
    await sock.send(JSON.serialize(reply))
    await wait_for(lambda: proxy.stats.delivered == 1)
    await trio.testing.wait_all_tasks_blocked()
    assert proxy.stats.refusals == {"lifecycle message": len(HOST_LIFECYCLE)}
    assert not done.is_set() and not voice.finished and voice.active and proxy.connected
    await runner.cancel()


class CountingSerializer(JSONMessageSerializer):
    """Counts the registry snapshots it builds."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots_built = 0

    def deserialize(self, data):
        message = super().deserialize(data)
        if isinstance(message, BusWorkerRegistryMessage):
            self.snapshots_built += 1
        return message


async def test_huge_refused_snapshots_are_refused_by_their_tag_and_never_built(
    make_proxy_app, nursery
):
    """Snapshots of 2,000 entries each: refused from the type tag, before a Python object
    per entry is made (the old host built and filed every entry)."""
    worker = Echo()
    serializer = CountingSerializer()
    app = await make_proxy_app(worker, serializer=serializer)
    steady = Steady(app.ws_url("steady"))
    await nursery.start(steady.run)
    huge = BusWorkerRegistryMessage(
        runner="fake",
        workers=[WorkerRegistryEntry(f"fake-{k}") for k in range(2000)],
        source="mallory",
        target="worker",
    )
    proxy = await attack(app, [huge] * 200)
    await steady.finish()
    assert proxy.stats.refusals == {"registry snapshot": 200}
    assert proxy.stats.received == 201 and proxy.stats.decode_errors == 0
    assert serializer.snapshots_built == 0
    assert app.runner.registry.remote_workers == [] and host_is_up(app, worker)


class Gate(BaseWorker):
    """``hold`` answers once the test opens the gate (or is cancelled)."""

    def __init__(self) -> None:
        super().__init__("worker")
        self.open = trio.Event()

    @job(name="hold")
    async def hold(self, message):
        await self.open.wait()
        await self.send_job_response(message.job_id, {"held": True})


async def test_two_clients_with_the_same_job_ids_cannot_replace_or_cancel_each_others_jobs(
    make_proxy_app,
):
    worker = Gate()
    app = await make_proxy_app(worker)

    def hold(job_id: str = "job-1") -> bytes:
        return JSON.serialize(
            BusJobRequestMessage(job_id=job_id, job_name="hold", source="asker", target="worker")
        )

    cancel = JSON.serialize(BusJobCancelMessage(job_id="job-1", source="asker", target="worker"))
    async with (
        open_client_socket(app.ws_url("asker")) as a,
        open_client_socket(app.ws_url("asker")) as b,
    ):
        await registered(a)
        await registered(b)
        await a.send(hold())
        await b.send(hold())  # the same id: in the old host it replaced a's job
        await wait_for(lambda: len(worker.active_jobs) == 2)
        await a.send(cancel)  # a cancels its own job-1, not b's
        with trio.fail_after(LIMIT):
            answer = JSON.deserialize(await a.receive())
        assert (answer.job_id, answer.status) == ("job-1", "cancelled")
        assert len(worker.active_jobs) == 1
        worker.open.set()
        with trio.fail_after(LIMIT):
            answer = JSON.deserialize(await b.receive())
        assert (answer.job_id, answer.status, answer.response) == (
            "job-1",
            "completed",
            {"held": True},
        )
        assert answer.target == "asker"
