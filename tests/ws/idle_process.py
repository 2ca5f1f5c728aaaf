"""Shared by the keepalive tests: a silent trio_pipe client process (idle_ws_client.py)
to freeze with SIGSTOP while its session is idle."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.client_process import freeze, ready_process

__all__ = ["freeze", "idle_client"]

CLIENT = Path(__file__).parent / "idle_ws_client.py"


@asynccontextmanager
async def idle_client(mode: str, url: str) -> AsyncIterator[trio.Process]:
    """Start ``idle_ws_client.py mode url``; yields once it is connected (see
    :func:`~tests.client_process.ready_process`)."""
    async with ready_process([sys.executable, str(CLIENT), mode, url]) as proc:
        yield proc
