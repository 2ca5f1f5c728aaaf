"""Proxy workers: a bus message link to a worker in another process (spec §7).

:class:`WebSocketProxyClient` and :class:`WebSocketProxyServer` as in Pipecat 1.14, plus
the trust boundary of each connection (:class:`ProxyPolicy`), the handshake checks for a
server endpoint (:func:`accept_proxy_websocket`) and the client's opt-in
:class:`Reconnect` policy, and a ready endpoint (:func:`proxy_route`).
"""

from trio_pipe.workers.proxy.handshake import (
    HandshakeRefusal,
    accept_proxy_websocket,
    check_handshake,
    origin_allowed,
)
from trio_pipe.workers.proxy.link import ProxyStats
from trio_pipe.workers.proxy.policy import ProxyPolicy, Refusal, RegistryLimits
from trio_pipe.workers.proxy.reconnect import Reconnect
from trio_pipe.workers.proxy.route import proxy_route, query_worker_name
from trio_pipe.workers.proxy.rules import ClientRules, ServerRules
from trio_pipe.workers.proxy.websocket import WebSocketProxyClient, WebSocketProxyServer

__all__ = [
    "ClientRules",
    "HandshakeRefusal",
    "ProxyPolicy",
    "ProxyStats",
    "Reconnect",
    "Refusal",
    "RegistryLimits",
    "ServerRules",
    "WebSocketProxyClient",
    "WebSocketProxyServer",
    "accept_proxy_websocket",
    "check_handshake",
    "origin_allowed",
    "proxy_route",
    "query_worker_name",
]
