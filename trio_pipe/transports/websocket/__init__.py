"""WebSocket transports: the client (``trio_pipe.ws.client``) and the server (Starlette under
Hypercorn), with Pipecat 1.14's names."""

from trio_pipe.transports.websocket.client import (
    WebsocketClientCallbacks,
    WebsocketClientInputTransport,
    WebsocketClientOutputTransport,
    WebsocketClientParams,
    WebsocketClientSession,
    WebsocketClientTransport,
)
from trio_pipe.transports.websocket.server import (
    FastAPIWebsocketClient,
    FastAPIWebsocketInputTransport,
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
    WebsocketServerParams,
    WebsocketServerTransport,
)

__all__ = [
    "FastAPIWebsocketClient",
    "FastAPIWebsocketInputTransport",
    "FastAPIWebsocketOutputTransport",
    "FastAPIWebsocketParams",
    "FastAPIWebsocketTransport",
    "WebsocketClientCallbacks",
    "WebsocketClientInputTransport",
    "WebsocketClientOutputTransport",
    "WebsocketClientParams",
    "WebsocketClientSession",
    "WebsocketClientTransport",
    "WebsocketServerParams",
    "WebsocketServerTransport",
]
