"""Watch the WebSocket sessions of an ASGI app: start, end (with why), traffic.

:func:`watch_sessions` wraps an app; for each WebSocket connection it accepts, the
listener hears ``session_started(scope)`` and, when the app returns,
``session_ended(scope, reason, seconds)``. The reason is the first of: ``"client
closed"`` (a disconnect was received), ``"server closed"`` (the app sent a close, or just
returned), ``"server stopped"`` (cancelled: the server is shutting down), ``"error"``
(the app raised). With ``counters``, every message in and out is counted too (text
messages by their characters), those an ``AsgiSocket`` writes straight to Hypercorn as
well (``HypercornConnection.send_observers``). Other scopes (HTTP, lifespan) pass through
untouched.

Used by :mod:`trio_pipe.metrics` (session figures) and :func:`log_sessions` (a log line
per session start and end, ``trio-pipe serve --log-level INFO``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from functools import partial
from typing import Any, Protocol

import trio

from trio_pipe.ws.hypercorn_adapter import SCOPE_KEY

__all__ = ["SessionCounters", "SessionListener", "log_sessions", "watch_sessions"]

logger = logging.getLogger("trio_pipe.sessions")

ASGIApp = Callable[..., Awaitable[Any]]


class SessionListener(Protocol):
    """Told when a WebSocket session starts and ends."""

    def session_started(self, scope: MutableMapping[str, Any]) -> None:
        """The app accepted the connection."""

    def session_ended(self, scope: MutableMapping[str, Any], reason: str, secs: float) -> None:
        """The app returned (or raised) after accepting, ``secs`` after the start."""


class SessionCounters:
    """Sessions and their WebSocket traffic, as counted by :func:`watch_sessions`."""

    def __init__(self) -> None:
        self.opened = 0
        self.ended: dict[str, int] = defaultdict(int)
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def open(self) -> int:
        """Sessions accepted and not ended."""
        return self.opened - sum(self.ended.values())

    def session_started(self, scope: MutableMapping[str, Any]) -> None:
        """Count a start."""
        self.opened += 1

    def session_ended(self, scope: MutableMapping[str, Any], reason: str, secs: float) -> None:
        """Count an end by reason."""
        self.ended[reason] += 1


def _size(message: MutableMapping[str, Any]) -> int:
    data = message.get("bytes")
    if data is not None:
        return len(data)
    return len(message.get("text") or "")


def _count_out(counters: SessionCounters, messages: Sequence[bytes | str]) -> None:
    counters.messages_out += len(messages)
    counters.bytes_out += sum(len(data) for data in messages)


def watch_sessions(
    app: ASGIApp, listener: SessionListener, counters: SessionCounters | None = None
) -> ASGIApp:
    """``app`` with its WebSocket sessions reported to ``listener`` (see the module)."""

    async def watched(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        started: float | None = None
        reason: str | None = None
        connection = scope.get(SCOPE_KEY)
        if counters is not None and connection is not None:
            # What an AsgiSocket writes straight to Hypercorn skips ``send`` below.
            connection.send_observers.append(partial(_count_out, counters))

        async def watched_receive() -> MutableMapping[str, Any]:
            nonlocal reason
            event = await receive()
            kind = event["type"]
            if kind == "websocket.receive":
                if counters is not None:
                    counters.messages_in += 1
                    counters.bytes_in += _size(event)
            elif kind == "websocket.disconnect" and reason is None:
                reason = "client closed"
            return event

        async def watched_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started, reason
            kind = message["type"]
            if kind == "websocket.send":
                if counters is not None:
                    counters.messages_out += 1
                    counters.bytes_out += _size(message)
            elif kind == "websocket.accept":
                started = trio.current_time()
                listener.session_started(scope)
            elif kind == "websocket.close" and reason is None:
                reason = "server closed"
            await send(message)

        try:
            await app(scope, watched_receive, watched_send)
        except trio.Cancelled:
            reason = reason or "server stopped"
            raise
        except BaseException:
            reason = reason or "error"
            raise
        finally:
            if started is not None:
                secs = trio.current_time() - started
                listener.session_ended(scope, reason or "server closed", secs)

    return watched


def _peer(scope: MutableMapping[str, Any]) -> str:
    client = scope.get("client")
    if not client:
        return "?"
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class _SessionLog:
    def session_started(self, scope: MutableMapping[str, Any]) -> None:
        logger.info("session started: %s %s", _peer(scope), scope.get("path", ""))

    def session_ended(self, scope: MutableMapping[str, Any], reason: str, secs: float) -> None:
        logger.info(
            "session ended: %s %s (%s, %.1f s)", _peer(scope), scope.get("path", ""), reason, secs
        )


def log_sessions(app: ASGIApp) -> ASGIApp:
    """``app`` logging each WebSocket session's start and end at INFO
    (logger ``trio_pipe.sessions``)."""
    return watch_sessions(app, _SessionLog())
