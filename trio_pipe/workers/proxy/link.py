"""One proxy connection: bus messages out as frames, frames in as bus messages, counted.

:class:`ProxyLink` sits between a :class:`~trio_pipe.ws.base.MessageSocket` and a proxy
worker. The worker decides *what* crosses (``workers.proxy.rules``); the link does the
crossing: it encodes and sends, and its receive loop decodes each frame, asks the
worker's admission rule (``workers.proxy.rules``, ``workers.proxy.policy``) and puts
admitted messages on the bus.

Error handling
    Nothing a peer sends can stop the receive loop: a frame that does not decode (bad
    JSON, unknown type, over the serializer's ``max_size``, wrong field types) or that the
    admission rule refuses is logged, counted in :class:`ProxyStats` (by reason) and
    dropped, and the loop reads the next one. A message that cannot be encoded is logged,
    counted and not sent. The loop ends only when the socket's receive side does
    (:class:`ConnectionClosed`, from a close in either direction, a vanished peer or a
    send that timed out); a send that meets the end of the connection stops the sends
    but not the loop, which first delivers what the peer sent before its close.
    :meth:`ProxyLink.run` returns how it ended. Cancelling ``run`` is how a worker stops it.

Refusing early: with the JSON serializer, :func:`tag_refuser` reads a frame's type tag
(orjson, C speed) before the message is built, and a type the connection's policy refuses
whatever its content is dropped there: a flood of huge refused messages (registry
snapshots of thousands of entries) costs a JSON parse, not a Python object per entry.

Sending: :meth:`ProxyLink.send` queues the encoded message and returns; a writer task
sends whatever is queued each time the socket can write, in one write
(``MessageSocket.send_many``). On a connection that negotiated
``trio_pipe.ws.batch.BATCH_SUBPROTOCOL`` (both ends are trio_pipe) the queue is packed by
``trio_pipe.ws.batch.pack`` (one queued message goes as itself, a batch stays under the
link's ``batch_limit``); with any other peer (Pipecat) each message stays its own
WebSocket message, exactly as one send per message would put it on the wire, and only
the TCP writes are fewer. Before it sends, the writer yields while the outbox still grows
from one scheduler pass to the next (a worker answering a burst checkpoints after each
answer, so the burst arrives a pass at a time); there is no timer, and two passes that
bring nothing new end the wait, as does an outbox of ``_BATCH_MESSAGES`` (16): a longer
wait saves little framing and leaves the peer idle until the whole burst is done, so the
two ends take turns instead of working at once. The queue is bounded: a sender waits for
room once ``_OUTBOX_LIMIT`` messages are queued, so a slow peer still pushes back on the
bus. A sender that says its message comes ``alone`` (nothing else is waiting to go after
it) sends it itself when nothing is queued and no send is in progress: the message goes
as it would have gone, without a task switch to the writer (a sequential round trip saves
one per message); the sender then waits for the socket, and whatever is queued meanwhile
waits for that send, so order holds. While a send is under way or messages are queued,
:meth:`ProxyLink.queue_nowait` queues without waiting: the proxy worker calls it from the
bus sender's task (the bus's ``bus_forward``), so a message it only passes on costs no
switch to the worker's own task. Inbound batches are
unpacked and each message decoded and admitted as if it had come alone; a batch whose
layout is broken is dropped whole, counted in ``decode_errors`` (and
``malformed_batches``).

Logging: the first few drops of each kind are warnings, then one in a thousand, so a peer
that floods garbage cannot flood the log as well.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import attrs
import orjson
import trio

from trio_pipe.bus.messages import BusMessage
from trio_pipe.ratelimit import loud
from trio_pipe.serializers import JSONMessageSerializer, MessageSerializer
from trio_pipe.wakeup import Wakeup
from trio_pipe.workers.proxy.rules import decode_frame
from trio_pipe.ws.base import ConnectionClosed, MessageSocket
from trio_pipe.ws.batch import (
    BATCH_SUBPROTOCOL,
    DEFAULT_BATCH_LIMIT,
    MalformedBatch,
    is_batch,
    pack,
    unpack,
)

__all__ = ["EarlyRefusal", "ProxyLink", "ProxyStats", "tag_refuser"]

logger = logging.getLogger(__name__)

_OUTBOX_LIMIT = 256  # queued messages before a sender waits
# The writer sends once the outbox has not grown for this many scheduler passes. One is
# not enough: Trio runs each batch of tasks in random order, so a producer's message can
# land a pass late.
_QUIET_PASSES = 2
# ... or once the outbox holds this many: the peer starts on a burst's first part while
# the rest is produced, instead of both ends taking turns (docs/architecture.md).
_BATCH_MESSAGES = 16


EarlyRefusal = Callable[[bytes | str], str | None]
"""Sees a raw frame; returns why its message is refused before decoding, or None."""


def tag_refuser(
    serializer: MessageSerializer, type_refusal: Callable[[type], str | None]
) -> EarlyRefusal | None:
    """An :data:`EarlyRefusal` for the JSON serializer (None for any other serializer).

    The tag is read from the frame's head where it has the layout both ends write (the
    rest of the frame is not looked at: a refused type is refused whatever follows), and
    found by a parse otherwise. Anything it cannot judge (no tag, an unknown tag, not JSON
    where the head does not tell, over the size limit) is left to the decoder, which
    reports it as it always does.
    """
    if not isinstance(serializer, JSONMessageSerializer):
        return None
    registry, max_size = serializer.registry, serializer.max_size
    verdicts: dict[str, str | None] = {}  # known wire names only: bounded by the registry

    def refuse(data: bytes | str) -> str | None:
        if len(data) > max_size:
            return None
        tag = _leading_tag(data)
        if tag is None:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
            tag = obj.get("__type__") if obj.__class__ is dict else None
            if not isinstance(tag, str):
                return None
        if tag in verdicts:
            return verdicts[tag]
        cls = registry.class_of(tag)
        if cls is None:
            return None
        verdict = verdicts[tag] = type_refusal(cls)
        return verdict

    return refuse


# Both ends write the tag first: ours compact, Pipecat's (``json.dumps``) with a space.
_TAG_HEADS = (b'{"__type__":"', b'{"__type__": "')


def _leading_tag(data: bytes | str) -> str | None:
    """The type tag of a frame laid out as both ends write it, read without parsing the
    rest; None for any other layout (a parse then finds the tag).

    Reading the head alone cannot let a refused message through: a frame whose head
    disagrees with what the decoder builds (a repeated ``__type__`` key) is still checked
    by the admission rule, which refuses by the decoded type.
    """
    if not isinstance(data, bytes):
        return None
    for head in _TAG_HEADS:
        if data.startswith(head):
            start = len(head)
            end = data.find(b'"', start)
            if end < 0:
                return None
            tag = data[start:end]
            # An escape would need a JSON decoder to read; leave it to the parse.
            return None if b"\\" in tag else tag.decode("ascii", "replace")
    return None


@attrs.define
class ProxyStats:
    """Counters of one proxy worker, over all its connections."""

    connects: int = 0
    """Connections opened (client) or served (server)."""
    disconnects: int = 0
    """Connections that ended other than by the worker's own stop."""
    sent: int = 0
    """Messages sent over the socket."""
    received: int = 0
    """Frames read from the socket."""
    delivered: int = 0
    """Decoded messages put on the local bus."""
    dropped: int = 0
    """Decoded messages the admission rule refused (the sum of ``refusals``)."""
    refusals: dict[str, int] = attrs.Factory(dict)
    """Refused messages by reason (a :class:`~trio_pipe.workers.proxy.policy.Refusal`
    value: ``"lifecycle message"``, ``"source is not the peer"``, ...)."""
    decode_errors: int = 0
    """Frames that did not decode (malformed, unknown type, oversize, ...)."""
    encode_errors: int = 0
    """Outbound messages that could not be encoded (not sent)."""
    batches_sent: int = 0
    """WebSocket messages that carried more than one bus message (batching peers)."""
    batches_received: int = 0
    """Inbound batches read (each of its messages is also counted in ``received``)."""
    malformed_batches: int = 0
    """Inbound batches dropped whole for a broken layout (also in ``decode_errors``)."""


class ProxyLink:
    """The crossing between one socket and a proxy worker's bus.

    Args:
        sock: the open connection.
        owner: the worker's name, for logs.
        serializer: encodes outbound and decodes inbound messages.
        admit: the admission rule: None puts a decoded message on the bus, a reason
            (a str) refuses it.
        deliver: puts a message on the bus (``bus.send``).
        stats: counters to update (shared by the worker's connections).
        refuse_early: refuses a raw frame by its type before it is decoded (optional).
        batch_limit: largest batch sent, in bytes (only where the socket negotiated
            batching; see the module doc).
    """

    def __init__(
        self,
        sock: MessageSocket,
        *,
        owner: str,
        serializer: MessageSerializer,
        admit: Callable[[BusMessage], str | None],
        deliver: Callable[[BusMessage], None],
        stats: ProxyStats,
        refuse_early: EarlyRefusal | None = None,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
    ) -> None:
        self.sock = sock
        self._owner = owner
        self._serializer = serializer
        self._admit = admit
        self._deliver = deliver
        self.stats = stats
        self._refuse_early = refuse_early
        self._scope: trio.CancelScope | None = None
        self._lost: ConnectionClosed | None = None
        self.batching = sock.subprotocol == BATCH_SUBPROTOCOL
        """True when both ends agreed on batch framing."""
        self._batch_limit = batch_limit
        self._outbox: deque[bytes] = deque()
        self._outbox_ready = Wakeup()
        self._outbox_room = trio.lowlevel.ParkingLot()
        self._writer_gone = False  # a send met the end of the connection
        self._sending = False  # a send (the writer's or a direct one) is under way

    @property
    def is_open(self) -> bool:
        """True while the connection can carry messages."""
        return self._lost is None and self.sock.is_open

    async def send(self, message: BusMessage, *, alone: bool = False) -> bool:
        """Encode and send ``message``; False if it could not go (logged, counted).

        ``alone``: the caller has nothing else waiting to be sent; with nothing queued
        and no send under way, the message is then sent from the caller's task (see the
        module doc) instead of queued for the writer.

        After a send meets the end of the connection, no more go out; the receive loop
        still delivers what arrived before the end, then :meth:`run` returns.
        """
        if self._lost is not None:
            return False
        data = self._encode(message)
        if data is None:
            return False
        if alone and not self._sending and not self._outbox and self._can_queue():
            return await self._send_direct(data)
        return await self._queue(data)

    def queues_now(self) -> bool:
        """True if :meth:`queue_nowait` would queue a message: a send is under way or
        messages are queued (an idle connection is :meth:`send`'s, which sends a lone
        message at once, without the writer), the outbox has room, and the connection
        has not ended."""
        outbox = self._outbox
        return bool(outbox or self._sending) and len(outbox) < _OUTBOX_LIMIT and self._can_queue()

    def queue_nowait(self, message: BusMessage) -> bool:
        """Encode ``message`` and queue it for the writer; call it only when
        :meth:`queues_now`. False if it could not be encoded (logged and counted, as
        :meth:`send` does)."""
        data = self._encode(message)
        if data is None:
            return False
        self._outbox.append(data)
        self._outbox_ready.wake()
        return True

    def _encode(self, message: BusMessage) -> bytes | None:
        try:
            return self._serializer.serialize(message)
        except Exception as exc:
            self.stats.encode_errors += 1
            if loud(self.stats.encode_errors):
                logger.error("proxy %r: cannot encode %s: %s", self._owner, message, exc)
            return None

    async def _queue(self, data: bytes) -> bool:
        outbox = self._outbox
        while len(outbox) >= _OUTBOX_LIMIT and self._can_queue():
            await self._outbox_room.park()  # the writer (or the end) makes room
        if not self._can_queue():
            return False
        outbox.append(data)
        self._outbox_ready.wake()
        return True

    def _can_queue(self) -> bool:
        return self._lost is None and not self._writer_gone and self.sock.is_open

    async def _send_direct(self, data: bytes) -> bool:
        """Send one message from the caller's task, holding the writer off meanwhile."""
        self._sending = True
        try:
            return await self._send_frames([data])
        finally:
            self._sending = False
            if self._outbox:
                self._outbox_ready.wake()  # queued behind this send: the writer's turn

    async def _write_queued(self) -> None:
        """The writer: send whatever is queued whenever the socket can write."""
        outbox = self._outbox
        while True:
            if not outbox or self._sending:
                await self._outbox_ready.park()  # a sender (or a direct send's end) wakes us
                continue
            await self._settle()
            if not outbox:  # the connection ended meanwhile
                continue
            payloads = list(outbox)
            outbox.clear()
            self._outbox_room.unpark_all()
            self._sending = True
            try:
                sent = await self._send_frames(payloads)
            finally:
                self._sending = False
            if not sent:
                return

    async def _settle(self) -> None:
        """Yield while the outbox still grows, so a burst goes in a few batches.

        A worker answering a burst checkpoints after each message it sends, so its
        answers reach the outbox one scheduler pass apart; sending at the first would
        split the burst into a frame per message or two. No timer: the writer stops
        waiting once two passes in a row bring nothing new, or once the outbox holds
        ``_BATCH_MESSAGES`` (it then sends all that is queued).
        """
        outbox = self._outbox
        size, quiet = len(outbox), 0
        while quiet < _QUIET_PASSES and size < _BATCH_MESSAGES:
            await trio.lowlevel.checkpoint()
            if len(outbox) > size:
                size, quiet = len(outbox), 0
            else:
                quiet += 1

    async def _send_frames(self, payloads: list[bytes]) -> bool:
        """Send ``payloads`` (packed into batches on a batching link), in one write where
        the socket can; False (and no more sends) if the connection ended."""
        sock, stats = self.sock, self.stats
        frames = list(pack(payloads, self._batch_limit)) if self.batching else payloads
        try:
            await sock.send_many(frames)
        except ConnectionClosed:
            # The receive loop goes on: a peer that closed gracefully may have sent
            # messages that are still on their way to it, and it ends after them.
            self._writer_gone = True
            self._outbox.clear()
            self._outbox_room.unpark_all()
            return False
        if self.batching:
            stats.batches_sent += sum(1 for frame in frames if is_batch(frame))
        stats.sent += len(payloads)
        return True

    def lose(self, reason: ConnectionClosed) -> None:
        """Mark the connection lost and end the receive loop."""
        if self._lost is None:
            self._lost = reason
        self._outbox.clear()
        self._outbox_room.unpark_all()
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> ConnectionClosed:
        """Receive and deliver until the connection ends; return how it ended."""
        with trio.CancelScope() as scope:
            self._scope = scope
            if self._lost is not None:  # lost before the loop started
                scope.cancel()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_queued)
                await self._receive_loop()
                nursery.cancel_scope.cancel()
        self._scope = None
        assert self._lost is not None
        return self._lost

    async def _receive_loop(self) -> None:
        sock, stats, batching = self.sock, self.stats, self.batching
        while True:
            try:
                data = await sock.receive()
            except ConnectionClosed as exc:
                self.lose(exc)
                return
            if batching and is_batch(data):
                self._handle_batch(data)  # type: ignore[arg-type]  # is_batch: bytes
                continue
            stats.received += 1
            self._handle(data)

    def _handle_batch(self, data: bytes) -> None:
        stats = self.stats
        try:
            payloads = unpack(data)
        except MalformedBatch as exc:
            stats.decode_errors += 1
            stats.malformed_batches += 1
            if loud(stats.malformed_batches):
                logger.warning(
                    "proxy %r: dropped a malformed batch (%s): %r", self._owner, exc, data[:200]
                )
            return
        stats.batches_received += 1
        stats.received += len(payloads)
        for payload in payloads:
            self._handle(payload)

    def _handle(self, data: bytes | str) -> None:
        if self._refuse_early is not None:
            refusal = self._refuse_early(data)
            if refusal is not None:
                self._refused(refusal, data[:120])
                return
        try:
            message = decode_frame(self._serializer, data)
        except Exception as exc:
            # Anything the serializer raises; a bad frame must never end the loop.
            self.stats.decode_errors += 1
            if loud(self.stats.decode_errors):
                logger.warning(
                    "proxy %r: dropped a frame that does not decode (%s: %s): %r",
                    self._owner,
                    type(exc).__name__,
                    exc,
                    data[:200],
                )
            return
        refusal = self._admit(message)
        if refusal is not None:
            self._refused(refusal, message)
            return
        self.stats.delivered += 1
        self._deliver(message)

    def _refused(self, refusal: str, what: object) -> None:
        stats = self.stats
        stats.dropped += 1
        count = stats.refusals[refusal] = stats.refusals.get(refusal, 0) + 1
        if loud(count):
            logger.warning(
                "proxy %r: refused inbound %s: %s (%d so far)", self._owner, what, refusal, count
            )
