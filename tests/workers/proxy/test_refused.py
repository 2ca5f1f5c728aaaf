"""A refused proxy handshake fails jobs to the remote worker at once (issue 13 item 7):
those waiting for it to be ready, those already sent, and new ones; each with the reason,
long before their timeout. Real Hypercorn, real client sockets."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from starlette.applications import Starlette

from tests.workers.proxy.proxy_helpers import LIMIT, wait_for
from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, JobError, JobParams, WorkerRunner, job
from trio_pipe.workers.proxy import Reconnect, WebSocketProxyClient, proxy_route

JOB_TIMEOUT = 120  # far beyond LIMIT: a job that waits for its timeout fails the test


class Slow(BaseWorker):
    """``wait`` never answers by itself; ``echo`` answers at once."""

    @job(name="wait")
    async def wait_forever(self, message):
        await trio.sleep_forever()

    @job(name="echo")
    async def echo(self, message):
        await self.send_job_response(message.job_id, {"ok": True})


class Host:
    """runner-b with ``worker`` behind a proxy route whose token check can be flipped."""

    def __init__(self) -> None:
        self.accepting = True
        self.proxies = []

    def authorize(self, headers) -> bool:
        return self.accepting and headers.get("authorization") == "Bearer t"

    async def start(self, nursery) -> str:
        self.runner = WorkerRunner(name="runner-b", handle_sigint=False)
        await self.runner.add_workers(Slow("worker"))
        route = proxy_route(
            self.runner,
            "/p",
            worker_name="worker",
            authorize=self.authorize,
            on_proxy=self.proxies.append,
        )
        served = await nursery.start(serve_asgi, Starlette(routes=[route]))
        await nursery.start(partial(self.runner.run, auto_end=False))
        return served.ws_url("/p?worker=voice")


async def client_side(nursery, url: str, token: str, **kwargs):
    voice = BaseWorker("voice")
    proxy = WebSocketProxyClient(
        "proxy",
        url=url,
        remote_worker_name="worker",
        local_worker_name="voice",
        headers={"Authorization": f"Bearer {token}"},
        **kwargs,
    )
    runner = WorkerRunner(name="runner-a", handle_sigint=False)
    await runner.add_workers(voice, proxy)
    await nursery.start(runner.run)
    return voice, proxy, runner


async def run_job(voice: BaseWorker, name: str = "echo") -> dict:
    params = JobParams(name=name, timeout=JOB_TIMEOUT)
    async with voice.job("worker", params=params) as j:
        pass
    return j.response


async def answered_error(voice: BaseWorker, name: str = "echo") -> str:
    """Run a job that must fail with an error answer; return the answer's error."""
    params = JobParams(name=name, timeout=JOB_TIMEOUT)
    with pytest.raises(JobError, match="errored"):
        async with voice.job("worker", params=params) as j:
            pass
    return j.response["error"]


async def test_jobs_waiting_for_a_refused_remote_and_new_ones_fail_at_once(nursery):
    host = Host()
    url = await host.start(nursery)
    voice, _proxy, runner = await client_side(nursery, url, "wrong")
    errors: list[str] = []

    async def waiting() -> None:
        with pytest.raises(JobError) as info:
            await run_job(voice)
        errors.append(str(info.value))

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as jobs:
            for _ in range(3):
                jobs.start_soon(waiting)
            await trio.testing.wait_all_tasks_blocked()
            await voice.activate_worker("proxy")  # connects: refused with 401
    assert len(errors) == 3
    assert all("401" in e and "worker" in e for e in errors), errors
    with trio.fail_after(LIMIT), pytest.raises(JobError, match="401"):
        await run_job(voice)  # a new one, after the refusal
    assert runner.registry.unreachable("worker") is not None
    assert host.proxies == []


async def test_jobs_sent_before_a_refused_reconnect_fail_at_once(nursery):
    host = Host()
    url = await host.start(nursery)
    reconnect = Reconnect(initial_delay=0.01, max_delay=0.05)
    voice, proxy, runner = await client_side(nursery, url, "t", active=True, reconnect=reconnect)
    with trio.fail_after(LIMIT):
        assert await run_job(voice) == {"ok": True}  # connected and working
    failed: list[str] = []

    async def pending() -> None:
        failed.append(await answered_error(voice, "wait"))  # answered on worker's behalf

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as jobs:
            jobs.start_soon(pending)
            jobs.start_soon(pending)
            await wait_for(lambda: len(host.runner.get_worker("worker").active_jobs) == 2)
            host.accepting = False  # the token is revoked ...
            await host.proxies[0].stop()  # ... and the connection goes: 1001, reconnect, 401
    assert len(failed) == 2 and all("401" in e for e in failed), failed
    with trio.fail_after(LIMIT):
        assert "401" in await answered_error(voice)  # known remote, refused: answered at once

    host.accepting = True  # a connection that opens clears the mark
    await voice.activate_worker("proxy")
    with trio.fail_after(LIMIT):
        await wait_for(lambda: proxy.connected)
        assert await run_job(voice) == {"ok": True}
    assert runner.registry.unreachable("worker") is None
