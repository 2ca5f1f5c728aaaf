"""Play the client of the UI jobs demo: what a Pipecat web client would send and get.

    python examples/ui_jobs/client.py ws://127.0.0.1:8765/ws [--query trio] [--keep]

It speaks RTVI over Pipecat's protobuf frames (each RTVI message is a ``message`` frame
with JSON text): ``client-ready`` (answered by ``bot-ready``), a ``ui-event`` click
(answered by ``navigate`` and ``toast`` commands), a ``ui-event`` that starts research (a
``ui-job-group`` lifecycle), and, unless ``--keep``, a ``ui-cancel-job-group`` as soon as
the first searcher is done. Every envelope received is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import trio

from trio_pipe.frames import InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.ws.client import open_client_socket

PB = ProtobufFrameSerializer()


def rtvi(type_: str, msg_id: str, data: Any = None) -> dict[str, Any]:
    """A client RTVI message."""
    return {"label": "rtvi-ai", "type": type_, "id": msg_id, "data": data}


async def play(
    url: str, *, query: str = "trio", cancel: bool = True, show: Callable[[str], Any] = print
) -> list[dict[str, Any]]:
    """Run the script against the server at ``url``; return every envelope received."""
    received: list[dict[str, Any]] = []
    async with open_client_socket(url) as sock:

        async def send(message: dict[str, Any]) -> None:
            show(f">>> {json.dumps(message)}")
            data = PB.encode(OutputTransportMessageUrgentFrame(message=message))
            assert data is not None  # an urgent message is never skipped
            await sock.send(data)

        async def until(accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            while True:
                frame = PB.decode(await sock.receive())
                if isinstance(frame, InputTransportMessageFrame):
                    received.append(frame.message)
                    show(f"<<< {json.dumps(frame.message)}")
                    if accept(frame.message):
                        return frame.message

        def kind(name: str) -> Callable[[dict[str, Any]], bool]:
            return lambda m: m["type"] == "ui-job-group" and m["data"]["kind"] == name

        def toast(m: dict[str, Any]) -> bool:
            return m["type"] == "ui-command" and m["data"]["command"] == "toast"

        await send(rtvi("client-ready", "c1", {"version": "2.2.0", "about": {"library": "demo"}}))
        await until(lambda m: m["type"] == "bot-ready")
        await send(rtvi("ui-event", "m1", {"event": "nav_click", "payload": {"view": "research"}}))
        await until(toast)
        await send(rtvi("ui-event", "m2", {"event": "research", "payload": {"query": query}}))
        started = await until(kind("group_started"))
        if cancel:
            await until(kind("job_completed"))
            job_id = started["data"]["job_id"]
            await send(rtvi("ui-cancel-job-group", "m3", {"job_id": job_id, "reason": "enough"}))
        await until(kind("group_completed"))
        await until(toast)
    return received


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--query", default="trio")
    parser.add_argument("--keep", action="store_true", help="let the research finish")
    args = parser.parse_args()
    try:
        trio.run(lambda: play(args.url, query=args.query, cancel=not args.keep))
    except* KeyboardInterrupt:  # Ctrl-C: one line and the usual status 130, no traceback
        print("ui_jobs client: interrupted", file=sys.stderr)
        sys.exit(130)
