"""The README's example: a worker asks a worker on another host, through the WebSocket proxy."""

from functools import partial

import trio
from starlette.applications import Starlette

from trio_pipe.serving import serve_asgi
from trio_pipe.workers import BaseWorker, JobParams, WorkerRunner, job
from trio_pipe.workers.proxy import WebSocketProxyClient, proxy_route


class Researcher(BaseWorker):
    @job(name="search")
    async def search(self, message):
        await self.send_job_response(
            message.job_id, {"found": f"3 papers on {message.payload['q']}"}
        )


async def main() -> dict:
    host_b = WorkerRunner(name="host-b", handle_sigint=False)  # the research host
    await host_b.add_workers(Researcher("researcher"))

    # Each connection gets a proxy in front of "researcher"; a client may run its jobs,
    # nothing else (add authorize= to check a token, see docs/security.md).
    route = proxy_route(host_b, "/proxy", worker_name="researcher", remote_worker_name="asker")

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(host_b.run, auto_end=False))
        app = Starlette(routes=[route])
        server = await nursery.start(serve_asgi, app)  # Hypercorn on 127.0.0.1, a free port

        host_a, asker = WorkerRunner(name="host-a"), BaseWorker("asker")  # the voice host
        proxy = WebSocketProxyClient(
            "proxy", url=server.ws_url("/proxy"), active=True,
            remote_worker_name="researcher", local_worker_name="asker",
        )  # fmt: skip
        await host_a.add_workers(asker, proxy)
        await nursery.start(host_a.run)
        async with asker.job(
            "researcher", params=JobParams(name="search", payload={"q": "trio"})
        ) as j:
            pass  # waits for the answer; `async for event in j` would show progress
        nursery.cancel_scope.cancel()  # stop both hosts: when this returns, nothing is left
    return j.response


if __name__ == "__main__":
    print(trio.run(main))  # {'found': '3 papers on trio'}
