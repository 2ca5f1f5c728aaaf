"""WebSocket proxy workers: a local worker talks to a worker in another process.

:class:`WebSocketProxyClient` connects to a URL (``trio_pipe.ws.client``) and
:class:`WebSocketProxyServer` serves one accepted
Starlette WebSocket (Hypercorn under Trio). Each forwards bus messages between its local
bus and the socket by the rules in ``workers.proxy.rules`` and the connection's
``ProxyPolicy`` (``workers.proxy.policy``: the trust boundary, see docs/security.md); the
crossing itself (encode, send, receive loop, counting) is a
``workers.proxy.link.ProxyLink``. Pipecat 1.14's wire and behaviour, with the defects of
spec §9 fixed: see docs/migrating-from-pipecat.md.

Resource handling
    The connection, its receive loop and its write watchdog are children of the worker's
    nursery, so when the worker's ``run`` returns the socket is closed and nothing of it
    is left. The client connects in ``on_activated`` and returns from it once connected
    (or failed); activating it again while a connection is up (or being retried) opens
    none. The server's proxy finishes its own ``run`` when its client leaves, so
    per-connection proxies never pile up in the runner (the runner forgets a finished
    worker that was added while it ran).

Error handling
    * Bad frames never stop a receive loop (``ProxyLink``): dropped, logged, counted in
      ``proxy.stats``.
    * A connection that ends in any way other than the worker's own stop (a normal close,
      an abnormal one, a peer that vanished, a write that outlived ``write_timeout``, a
      pong that did not come back) fires ``on_disconnected`` / ``on_client_disconnected``
      exactly once for that connection. ``stop()`` closes the socket once and fires no
      disconnect event.
    * A failed connect is logged with the URL, reported as the worker's error message
      (``BusWorkerErrorMessage`` for a root worker) and leaves the client alive and
      unconnected; with ``reconnect=`` it tries again with capped exponential backoff,
      except after a refused handshake (HTTP 4xx) or a normal close.
    * A refused handshake (HTTP 4xx) marks the remote worker unreachable in the registry
      until a connection opens: jobs to it fail at once with the reason (those waiting
      for it to be ready, those already sent, new ones) instead of at their timeout.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from starlette.websockets import WebSocket

from trio_pipe.backoff import reconnect_delays
from trio_pipe.bus.messages import (
    BusJobRequestMessage,
    BusMessage,
    BusWorkerRegistryMessage,
    WorkerReadyData,
    WorkerRegistryEntry,
)
from trio_pipe.serializers import MessageSerializer
from trio_pipe.workers.proxy.forwarded import ForwardedJobs, error_answer
from trio_pipe.workers.proxy.policy import ProxyPolicy
from trio_pipe.workers.proxy.proxy_worker import ProxyWorkerBase
from trio_pipe.workers.proxy.reconnect import Reconnect
from trio_pipe.workers.proxy.rules import ClientRules, ServerRules, peer_bus_name
from trio_pipe.ws.asgi import AsgiSocket
from trio_pipe.ws.base import GOING_AWAY, MessageSocket, watched
from trio_pipe.ws.batch import BATCH_SUBPROTOCOL
from trio_pipe.ws.client import ConnectError, open_client_socket

__all__ = ["WebSocketProxyClient", "WebSocketProxyServer"]

logger = logging.getLogger(__name__)


class WebSocketProxyClient(ProxyWorkerBase):
    """Forwards bus messages to a worker behind a WebSocket server, and its answers back.

    Sends messages targeted at ``remote_worker_name`` (whatever their source) and
    ``forward_messages`` instances from ``local_worker_name``; admits, by ``policy``,
    messages from ``remote_worker_name`` targeted at ``local_worker_name``, the
    ``forward_messages`` instances from it, and the remote worker's registry entry. By
    default the host cannot end or cancel this session or steer its workers (lifecycle
    messages are refused); ``policy=ProxyPolicy.trusting()`` is Pipecat's reach. Connects
    when activated (``active=False`` by default: usually an upstream event activates it).

    Args:
        name: unique worker name.
        url: the server's WebSocket URL (``ws://`` or ``wss://``).
        remote_worker_name: the worker behind the server.
        local_worker_name: the local worker that talks to it.
        forward_messages: extra message types to forward from the local worker whatever
            their target (for example ``(BusFrameMessage,)``).
        headers: HTTP headers for the handshake (for example an ``Authorization``).
        policy: what the host may send across (default :class:`ProxyPolicy`: the job
            protocol and plain data).
        serializer: default :class:`~trio_pipe.serializers.JSONMessageSerializer`.
        active: connect as soon as the worker starts.
        reconnect: ``True`` or a :class:`~trio_pipe.workers.proxy.reconnect.Reconnect`
            policy to reconnect after a lost connection or a failed connect; off (None)
            by default, as in Pipecat.
        connect_timeout: seconds for TCP connect plus handshake.
        write_timeout: seconds one send may take before the connection is aborted.
        close_timeout: seconds the closing handshake of a graceful ``stop()`` may take
            (what the peer still sends is delivered meanwhile); then the connection is
            dropped.
        ping_interval: seconds between WebSocket pings (None: no pings).
        ping_timeout: seconds a pong may take before the connection counts as lost.
        max_message_size: largest frame accepted from the server; a larger one closes
            the connection (1009). Keep it above the serializer's ``max_size`` so that an
            oversize message is dropped, not fatal.
        batching: offer the batch framing (:mod:`trio_pipe.ws.batch`) in the handshake; a
            trio_pipe server accepts it and then one WebSocket message may carry several
            bus messages each way. A Pipecat server ignores the offer: one message per
            WebSocket message, as always.

    Events: ``on_connected(worker, websocket)`` when a connection opens and
    ``on_disconnected(worker, websocket)`` once when it ends other than by ``stop()``.
    ``websocket`` is the :class:`~trio_pipe.ws.base.MessageSocket`.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        remote_worker_name: str,
        local_worker_name: str,
        forward_messages: tuple[type[BusMessage], ...] = (),
        headers: dict[str, str] | None = None,
        policy: ProxyPolicy | None = None,
        serializer: MessageSerializer | None = None,
        active: bool = False,
        reconnect: Reconnect | bool | None = None,
        connect_timeout: float = 10.0,
        write_timeout: float | None = 10.0,
        close_timeout: float = 2.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_message_size: int = 16 * 1024 * 1024,
        batching: bool = True,
    ) -> None:
        super().__init__(
            name,
            rules=ClientRules(
                remote_worker_name, local_worker_name, forward_messages, policy or ProxyPolicy()
            ),
            serializer=serializer,
            active=active,
        )
        self._url = url
        self._headers = dict(headers or {})
        self._reconnect = Reconnect.coerce(reconnect)
        self._socket_options: dict[str, Any] = {
            "headers": self._headers,
            "connect_timeout": connect_timeout,
            "write_timeout": write_timeout,
            "close_timeout": close_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "max_message_size": max_message_size,
            "subprotocols": (BATCH_SUBPROTOCOL,) if batching else (),
        }
        self._maintaining = False  # a connection task is alive: connecting, up or retrying
        self._attempt: trio.Event | None = None  # set when the current attempt resolved
        self._connection_scope: trio.CancelScope | None = None
        self._connection_done: trio.Event | None = None
        self._forwarded = ForwardedJobs()
        self._refused: str | None = None  # why the server refused the handshake, for good
        self._register_event_handler("on_connected")
        self._register_event_handler("on_disconnected")

    @property
    def url(self) -> str:
        """The server's URL."""
        return self._url

    @property
    def local_worker_name(self) -> str:
        """The local worker whose messages come back."""
        return self._rules.local_worker_name

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._link is not None and self._link.is_open

    @property
    def websocket(self) -> MessageSocket | None:
        """The open connection, if any."""
        return self._link.sock if self._link is not None else None

    # --- connecting ----------------------------------------------------------------------

    async def on_activated(self, args: dict[str, Any] | None) -> None:
        """Connect (returns once connected or failed); nothing if already connected."""
        await super().on_activated(args)
        if self._maintaining:
            logger.debug(
                "proxy %r: activated while connected or connecting; no new connection", self.name
            )
            return
        self._maintaining = True
        attempt = self._attempt = trio.Event()
        self._connection_scope = trio.CancelScope()
        self._connection_done = trio.Event()
        self.start_soon(self._maintain, attempt, self._connection_scope, self._connection_done)
        await attempt.wait()

    async def _maintain(
        self, attempt: trio.Event, scope: trio.CancelScope, done: trio.Event
    ) -> None:
        """Connect; with a reconnect policy, keep reconnecting until it says stop."""
        try:
            with scope:
                await self._connect_and_retry(attempt)
        finally:
            self._maintaining = False
            attempt.set()
            done.set()

    async def _connect_and_retry(self, attempt: trio.Event) -> None:
        delays = None
        retries = 0
        while True:
            connected, code, status = await self._connect_once(attempt)
            attempt.set()
            policy = self._reconnect
            if policy is None or self._stopping:
                return
            if not policy.retry_after(connected=connected, close_code=code, http_status=status):
                logger.info("proxy %r: not reconnecting to %s", self.name, self._url)
                return
            if connected or delays is None:
                delays = reconnect_delays(policy.initial_delay, policy.max_delay)
                retries = 0
            if policy.gives_up(retries):
                logger.error(
                    "proxy %r: giving up on %s after %d attempts", self.name, self._url, retries
                )
                return
            retries += 1
            await trio.sleep(next(delays))

    async def _connect_once(self, attempt: trio.Event) -> tuple[bool, int | None, int | None]:
        """One connection from connect to close: (connected, close code, HTTP status)."""
        logger.debug("proxy %r: connecting to %s", self.name, self._url)
        try:
            async with open_client_socket(self._url, **self._socket_options) as sock:
                link = self._link = self._new_link(sock)
                self._refused = None
                self.registry.mark_reachable(self.remote_worker_name)
                self.stats.connects += 1
                logger.info("proxy %r: connected to %s", self.name, self._url)
                attempt.set()
                self._call_event_handler("on_connected", sock)
                try:
                    closed = await link.run()
                finally:
                    self._link = None
        except ConnectError as exc:
            logger.error("proxy %r: %s", self.name, exc)
            if exc.status is not None and 400 <= exc.status < 500:
                self._refuse(f"proxy {self.name!r}: handshake refused (HTTP {exc.status}): {exc}")
            await self.send_bus_error_message(str(exc))
            return False, None, exc.status
        if self._stopping:  # our own stop closed it
            return True, closed.code, None
        self.stats.disconnects += 1
        logger.warning("proxy %r: connection to %s ended: %s", self.name, self._url, closed)
        self._call_event_handler("on_disconnected", sock)
        return True, closed.code, None

    def _refuse(self, reason: str) -> None:
        """The server refused us for good: every job to the remote worker fails at once,
        those already sent, those waiting for it to be ready, and new ones."""
        self._refused = reason
        self.registry.mark_unreachable(self.remote_worker_name, reason)
        for answer in self._forwarded.fail_all(reason):
            self._send(answer)

    def _deliver(self, message: BusMessage) -> None:
        self._forwarded.received(message)
        self._send(message)

    def _sent(self, message: BusMessage) -> None:
        self._forwarded.sent(message)

    def _not_sent(self, message: BusMessage) -> None:
        if self._refused is not None and isinstance(message, BusJobRequestMessage):
            self._send(error_answer(message, self._refused))

    async def stop(self) -> None:
        """Close the connection (no ``on_disconnected``) and stop the worker.

        A graceful end: the closing handshake (code 1000). Nothing more is sent, but what
        the server still sends is read and delivered until its close frame (at most the
        socket's ``close_timeout``, then the connection is dropped), so the TCP connection
        never ends with unread data, which would reset it and lose what the server had not
        read yet. When ``stop`` returns the socket is closed.
        """
        if self._stopped:
            return
        self._stopping = True
        if self._attempt is not None:
            self._attempt.set()
        link = self._link
        if link is not None:
            await link.sock.close()  # the receive loop runs on until the server's close
        if self._connection_scope is not None and self._connection_done is not None:
            self._connection_scope.cancel()
            await self._connection_done.wait()
        await super().stop()


class WebSocketProxyServer(ProxyWorkerBase):
    """Serves one accepted WebSocket: a remote client's worker talks to ``worker_name``.

    The trust boundary: what the client may put on the host's bus is ``policy``
    (default: the job protocol and plain data; lifecycle messages and registry
    snapshots are refused, counted in ``stats.refusals`` and logged), only from
    ``remote_worker_name`` and only to ``worker_name`` (plus ``forward_messages``
    instances, any target). On the host's bus the client's worker is
    :attr:`peer_bus_name` (``"<remote_worker_name>@<name>"``, unique per connection), so
    the served worker's replies reach this connection only; on the wire it is
    ``remote_worker_name`` again. Sends messages from ``worker_name`` targeted at
    :attr:`peer_bus_name`, and ``forward_messages`` instances from ``worker_name`` (not
    those addressed to another connection's client). Once
    ``worker_name`` is ready it sends the client one ``BusWorkerRegistryMessage``, which
    lets the client's runner register it. Finishes when the client leaves.

    Create it for an accepted WebSocket (``accept_proxy_websocket`` also accepts the batch
    framing a trio_pipe client offers), add it to the runner and keep the endpoint alive
    until it finishes; under ``serve_asgi`` its writes to a client that stops reading are
    bounded whichever task built it::

        proxy = WebSocketProxyServer("gateway-1", websocket=websocket, worker_name="worker",
                                     remote_worker_name="voice")
        await runner.add_workers(proxy)
        await proxy.wait()

    Args:
        name: unique worker name (one per connection; a name is free again once its
            proxy finished).
        websocket: an accepted Starlette WebSocket (or a
            :class:`~trio_pipe.ws.base.MessageSocket`, whose owner then closes it).
        worker_name: the local worker behind this proxy.
        remote_worker_name: the client's worker.
        forward_messages: extra message types to forward from ``worker_name``.
        policy: what this client may send across (default :class:`ProxyPolicy`); widen
            it per connection, for example for a trusted token.
        serializer: default :class:`~trio_pipe.serializers.JSONMessageSerializer`.
        write_timeout: seconds one send may take before the connection is aborted.
        close_timeout: seconds the closing handshake of a graceful ``stop()`` may take
            (what the peer still sends is delivered meanwhile); then the connection is
            dropped.
        ping_interval: seconds between WebSocket pings to the client (None: none; as
            uvicorn's ``ws_ping_interval``, which Pipecat's proxy server runs under).
        ping_timeout: seconds after a ping within which something (its pong, any frame)
            must come from the client; otherwise the connection is dropped and the proxy
            finishes. Catches a client process that froze while the link was quiet, which
            TCP keepalive cannot. Only for a Starlette WebSocket under ``serve_asgi``; a
            given ``MessageSocket`` keeps its own settings.

    Events: ``on_client_connected(worker, websocket)`` at start and
    ``on_client_disconnected(worker, websocket)`` once when the client leaves (awaited
    before the proxy finishes). ``websocket`` is the object given to the constructor.
    """

    def __init__(
        self,
        name: str,
        *,
        websocket: WebSocket | MessageSocket,
        worker_name: str,
        remote_worker_name: str,
        forward_messages: tuple[type[BusMessage], ...] = (),
        policy: ProxyPolicy | None = None,
        serializer: MessageSerializer | None = None,
        write_timeout: float | None = 10.0,
        close_timeout: float = 2.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
    ) -> None:
        super().__init__(
            name,
            rules=ServerRules(
                worker_name,
                remote_worker_name,
                forward_messages,
                policy or ProxyPolicy(),
                peer_bus_name(remote_worker_name, name),
            ),
            serializer=serializer,
            active=True,
        )
        self._websocket = websocket
        self._owns_socket = not isinstance(websocket, MessageSocket)
        sock = (
            websocket
            if isinstance(websocket, MessageSocket)
            else AsgiSocket(
                websocket,
                write_timeout=write_timeout,
                close_timeout=close_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
            )
        )
        self._server_link = self._link = self._new_link(sock)
        self._registry_sent = False
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    @property
    def worker_name(self) -> str:
        """The local worker behind this proxy."""
        return self._rules.worker_name

    @property
    def websocket(self) -> MessageSocket:
        """The connection, as a :class:`~trio_pipe.ws.base.MessageSocket`."""
        return self._server_link.sock

    @property
    def peer_bus_name(self) -> str:
        """The client's worker as named on the host's bus (``"<remote>@<proxy name>"``):
        the source of what it sends, the target to address it."""
        return self._rules.bus_name

    async def start(self) -> None:
        """Start sequence, ``on_client_connected``, the receive loop, watch ``worker_name``."""
        await super().start()
        self.stats.connects += 1
        self._call_event_handler("on_client_connected", self._websocket)
        serving = trio.Event()
        self.start_soon(self._serve, serving)
        await serving.wait()  # the write watchdog runs before the first send
        await self.watch_workers(self._rules.worker_name)

    async def _serve(self, serving: trio.Event) -> None:
        link = self._server_link
        try:
            if self._owns_socket:
                async with watched(link.sock):
                    serving.set()
                    closed = await link.run()
            else:
                serving.set()
                closed = await link.run()
        finally:
            serving.set()
        self._forget_announced()
        if not self._stopping:  # not our own stop: the client left
            self.stats.disconnects += 1
            logger.info("proxy %r: client left: %s", self.name, closed)
            await self._run_event_handler("on_client_disconnected", self._websocket)
        await self.stop()

    def _forget_announced(self) -> None:
        """What the client announced (only with a policy that admits registry snapshots)
        leaves with it, so the host's registry does not keep growing with clients."""
        budget, registry = self._budget, self._registry
        if budget is None or registry is None:
            return
        for runner in budget.runners:
            registry.forget_runner(runner)
        budget.runners.clear()

    async def stop(self) -> None:
        """Close the socket (once; no disconnect event) and stop the worker.

        The close code is 1001 (going away): this side is shutting down, not ending the
        conversation, so a client with a reconnect policy tries again (it does not after
        1000). When the client left first, the socket is already closed and nothing is sent.
        Otherwise it is the closing handshake: what the client still sends is delivered
        until its close frame (at most ``close_timeout``), so a graceful stop loses nothing.
        """
        self._stopping = True
        if self._owns_socket:
            await self._server_link.sock.close(GOING_AWAY, "server going away")
        await super().stop()

    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        """Tell the client, once, that ``worker_name`` is ready."""
        await super().on_worker_ready(data)
        if data.worker_name != self._rules.worker_name or self._registry_sent:
            return
        self._registry_sent = True
        logger.debug("proxy %r: %r ready, telling the client", self.name, data.worker_name)
        await self._server_link.send(
            BusWorkerRegistryMessage(
                runner=data.runner,
                workers=[WorkerRegistryEntry(name=self._rules.worker_name)],
                source=self.name,
            )
        )
