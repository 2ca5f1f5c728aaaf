"""Refusing a proxy handshake before it is accepted: a token check and an origin allowlist.

A proxy endpoint is a door into the local bus: whoever connects can send job requests to
the proxied worker. Check the handshake before accepting it::

    async def endpoint(websocket: WebSocket) -> None:
        if not await accept_proxy_websocket(
            websocket,
            authorize=lambda headers: headers.get("authorization") == f"Bearer {TOKEN}",
            allowed_origins={"https://app.example.com"},
        ):
            return  # refused: the client got 401 or 403 and no WebSocket
        proxy = WebSocketProxyServer(..., websocket=websocket, ...)  # pings every 20 s

Once accepted, the connection is the proxy's: it pings the client (``ping_interval``,
``ping_timeout``; uvicorn's 20 s and 20 s), so a client whose process froze while the
link was quiet is dropped, which a server that only accepts cannot notice.

:func:`check_handshake` is the pure decision; :func:`accept_proxy_websocket` applies it to a
Starlette WebSocket. A refusal is answered, where the server supports the ASGI WebSocket
denial response (Hypercorn does), with an HTTP response instead of the upgrade: **401**
when ``authorize`` said no, **403** when the origin is not allowed, with the reason as
the body. A server without that extension gets a close before accept with code **1008**
(policy violation), which ASGI servers turn into HTTP 403. Either way no WebSocket is
opened, and the proxy client reports ``ConnectError`` with the status
(:attr:`ConnectError.status`) and does not retry it.

Origins: browsers send ``Origin`` on every WebSocket handshake; non-browser clients (the
proxy client, Pipecat's) send none. A request without ``Origin`` therefore passes the
allowlist; one with an ``Origin`` outside it is refused. ``"*"`` allows any origin.
Comparison ignores case and a trailing slash.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping

import attrs
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from trio_pipe.ws.asgi import accept_websocket
from trio_pipe.ws.batch import BATCH_SUBPROTOCOL
from trio_pipe.ws.hypercorn_adapter import decline_compression

__all__ = [
    "Authorize",
    "HandshakeRefusal",
    "accept_proxy_websocket",
    "check_handshake",
    "origin_allowed",
]

logger = logging.getLogger(__name__)

UNAUTHORIZED = 401
FORBIDDEN = 403
POLICY_VIOLATION = 1008

Authorize = Callable[[Mapping[str, str]], bool | Awaitable[bool]]
"""Sees the handshake headers (lower-case names); returns (or awaits to) True to accept."""


@attrs.frozen
class HandshakeRefusal:
    """Why a handshake is refused, and how: an HTTP status, or a close code as a fallback."""

    status: int
    reason: str
    close_code: int = POLICY_VIOLATION


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed_origins: Collection[str] | None) -> bool:
    """True if ``origin`` passes the allowlist (None: no allowlist; see the module doc)."""
    if allowed_origins is None or origin is None:
        return True
    allowed = {_normal_origin(o) for o in allowed_origins}
    return "*" in allowed or _normal_origin(origin) in allowed


async def check_handshake(
    headers: Mapping[str, str],
    *,
    authorize: Authorize | None = None,
    allowed_origins: Collection[str] | None = None,
) -> HandshakeRefusal | None:
    """None to accept the handshake, or the refusal.

    ``headers`` must have lower-case names (Starlette's do). An ``authorize`` that raises
    refuses (403) and is logged: an error never lets a client in.
    """
    if not origin_allowed(headers.get("origin"), allowed_origins):
        return HandshakeRefusal(FORBIDDEN, f"origin {headers.get('origin')!r} is not allowed")
    if authorize is None:
        return None
    try:
        verdict = authorize(headers)
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except Exception:
        logger.exception("proxy handshake: the authorize callable failed; refusing")
        return HandshakeRefusal(FORBIDDEN, "authorization check failed")
    if verdict is not True:
        return HandshakeRefusal(UNAUTHORIZED, "unauthorized")
    return None


async def refuse(websocket: WebSocket, refusal: HandshakeRefusal) -> None:
    """Answer a handshake that has not been accepted with ``refusal``."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = PlainTextResponse(refusal.reason, status_code=refusal.status)
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=refusal.close_code, reason=refusal.reason)


async def accept_proxy_websocket(
    websocket: WebSocket,
    *,
    authorize: Authorize | None = None,
    allowed_origins: Collection[str] | None = None,
    batching: bool = True,
) -> bool:
    """Accept ``websocket`` if the handshake passes the checks; otherwise refuse it.

    Returns True once accepted, False after a refusal (the endpoint should return). With
    ``batching``, a client that offers the batch framing (a trio_pipe proxy client, see
    :mod:`trio_pipe.ws.batch`) gets it; a WebSocketProxyServer on this WebSocket then
    batches. A client that does not offer it (Pipecat's) gets today's plain wire.
    ``permessage-deflate`` is declined (Pipecat's client offers it): per message it costs
    more CPU than it saves on proxy messages.
    """
    headers = {k.lower(): v for k, v in websocket.headers.items()}
    refusal = await check_handshake(headers, authorize=authorize, allowed_origins=allowed_origins)
    if refusal is None:
        # Proxy messages are small JSON: compressing each costs the server more CPU (in
        # wsproto, under Hypercorn) than the bytes it saves.
        decline_compression(websocket.scope)
        await accept_websocket(websocket, subprotocols=(BATCH_SUBPROTOCOL,) if batching else ())
        return True
    client = websocket.client
    logger.warning(
        "proxy handshake from %s refused (%d %s)",
        f"{client.host}:{client.port}" if client else "unknown peer",
        refusal.status,
        refusal.reason,
    )
    await refuse(websocket, refusal)
    return False
