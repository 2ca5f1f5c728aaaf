"""Batch framing: several serialized bus messages in one WebSocket message (pure functions).

Used only on a connection whose handshake negotiated the :data:`BATCH_SUBPROTOCOL`
(the client offers it, the server accepts it only when offered). A Pipecat peer never
offers or accepts it, so it sees one bus message per WebSocket message, as always.

Layout of a batch (a binary WebSocket message)::

    MAGIC (4 bytes: 00 'T' 'P' 'B')  then, per message:  length (4 bytes, big-endian) + payload

JSON never starts with a NUL byte, so a batch cannot be taken for a plain message. For a
serializer whose output might (a binary one), :func:`pack` sends such a payload as a batch
of one, so on a batching connection every message that starts with ``MAGIC`` is a batch.

Rules:

* A run of one payload is sent as that payload, unchanged (a plain message).
* A batch never exceeds ``limit`` bytes; the payloads are split into as many messages as
  needed, in order. A payload too large to share a message goes alone (plain).
* Nothing waits: :func:`pack` frames what it is given (the caller passes whatever is
  queued when the connection can write).

:func:`unpack` checks the whole layout before returning anything: a truncated or
inconsistent batch raises :class:`MalformedBatch` and none of its payloads is used (the
receiver drops and counts it like a malformed message; the connection goes on).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = [
    "BATCH_SUBPROTOCOL",
    "DEFAULT_BATCH_LIMIT",
    "MAGIC",
    "MalformedBatch",
    "is_batch",
    "pack",
    "unpack",
]

BATCH_SUBPROTOCOL = "trio-pipe.batch.v1"
"""The WebSocket subprotocol that switches batch framing on for a connection."""

MAGIC = b"\x00TPB"
DEFAULT_BATCH_LIMIT = 1024 * 1024
"""Largest batch (bytes), well under both ends' 16 MiB message size limit."""

_HEADER = len(MAGIC)
_PREFIX = 4


class MalformedBatch(ValueError):
    """A batch whose layout is broken (truncated, a length past the end, empty)."""


def is_batch(data: bytes | str) -> bool:
    """True if ``data`` (a received WebSocket message) is a batch."""
    return data.__class__ is not str and data[:_HEADER] == MAGIC


def _framed(payloads: list[bytes]) -> bytes:
    parts = [MAGIC]
    for payload in payloads:
        parts.append(len(payload).to_bytes(_PREFIX, "big"))
        parts.append(payload)
    return b"".join(parts)


def pack(payloads: Iterable[bytes], limit: int = DEFAULT_BATCH_LIMIT) -> Iterator[bytes]:
    """The WebSocket messages that carry ``payloads`` in order (see the module doc).

    Raises ValueError if ``limit`` cannot hold even an empty batch.
    """
    if limit < _HEADER + _PREFIX:
        raise ValueError(f"batch limit {limit} is too small")
    run: list[bytes] = []
    size = _HEADER
    for payload in payloads:
        cost = _PREFIX + len(payload)
        if size + cost > limit and run:
            yield _flush(run)
            run, size = [], _HEADER
        if _HEADER + cost > limit:  # never fits a batch: alone, as itself
            yield payload if not payload.startswith(MAGIC) else _framed([payload])
            continue
        run.append(payload)
        size += cost
    if run:
        yield _flush(run)


def _flush(run: list[bytes]) -> bytes:
    if len(run) == 1 and not run[0].startswith(MAGIC):
        return run[0]
    return _framed(run)


def unpack(data: bytes) -> list[bytes]:
    """The payloads of a batch; raises :class:`MalformedBatch` if its layout is broken."""
    if data[:_HEADER] != MAGIC:
        raise MalformedBatch("not a batch")
    view = memoryview(data)
    end = len(data)
    at = _HEADER
    payloads: list[bytes] = []
    while at < end:
        if at + _PREFIX > end:
            raise MalformedBatch(f"truncated length at byte {at}")
        length = int.from_bytes(view[at : at + _PREFIX], "big")
        at += _PREFIX
        if at + length > end:
            raise MalformedBatch(f"payload of {length} bytes at byte {at} runs past the end")
        payloads.append(bytes(view[at : at + length]))
        at += length
    if not payloads:
        raise MalformedBatch("empty batch")
    return payloads
