"""Serve the UI jobs demo (trio_pipe.bots.ui_jobs) with Hypercorn under Trio.

    python examples/ui_jobs/server.py --port 8765
    python examples/ui_jobs/client.py ws://127.0.0.1:8765/ws

Each WebSocket connection gets its own session: a PipelineWorker that owns the client's
RTVI, a UIWorker (ResearchUI) and two searcher job workers on one in-process bus.
"""

from __future__ import annotations

import argparse
import logging
import sys

import trio

from trio_pipe.bots.ui_jobs import ui_jobs_app
from trio_pipe.serving import serve_asgi


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        served = await nursery.start(serve_asgi, ui_jobs_app(), host, port)
        print(f"UI jobs demo on {served.ws_url('/ws')} (Ctrl-C to stop)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        # Ctrl-C as KeyboardInterrupt at the main task's checkpoints only, never inside
        # library code half-way through an operation.
        trio.run(main, args.host, args.port, restrict_keyboard_interrupt_to_checkpoints=True)
    except* KeyboardInterrupt:  # Ctrl-C: one line and the usual status 130, no traceback
        print("ui_jobs server: interrupted", file=sys.stderr)
        sys.exit(130)
