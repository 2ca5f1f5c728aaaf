"""The browser client's page, built from ``web/`` at the repository's top (package data).

``index.html`` and ``app.js`` are the output of ``npm ci && npm run build`` in ``web/``
(Pipecat's ``@pipecat-ai/client-js`` and ``@pipecat-ai/websocket-transport``, bundled
with esbuild), committed so that serving the page needs no Node. :func:`page_routes`
serves them, with the bot's WebSocket path written into the page.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["page_routes", "read_asset"]

_PLACEHOLDER = "__WS_PATH__"


def read_asset(name: str) -> bytes:
    """One built file of the page (``index.html`` or ``app.js``)."""
    return resources.files(__name__).joinpath(name).read_bytes()


def page_routes(ws_path: str) -> list[BaseRoute]:
    """``/`` (the page, connecting to ``ws_path`` on the same host) and ``/app.js``."""
    html = read_asset("index.html").decode().replace(_PLACEHOLDER, ws_path)
    script = read_asset("app.js")

    async def index(_request: Request) -> Response:
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    async def app_js(_request: Request) -> Response:
        return Response(script, media_type="text/javascript")

    return [Route("/", index), Route("/app.js", app_js)]
