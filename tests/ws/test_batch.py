"""Batch framing without sockets: round trips, the size bound, and malformed batches."""

from __future__ import annotations

import pytest

from trio_pipe.ws.batch import MAGIC, MalformedBatch, is_batch, pack, unpack


def _payloads(n: int, size: int = 20) -> list[bytes]:
    return [b'{"i":%d,"pad":"%s"}' % (i, b"x" * size) for i in range(n)]


def test_one_payload_is_sent_plain() -> None:
    assert list(pack([b'{"a":1}'])) == [b'{"a":1}']
    assert not is_batch(b'{"a":1}')


def test_several_payloads_round_trip_in_one_message() -> None:
    payloads = _payloads(5)
    (message,) = pack(payloads)
    assert is_batch(message)
    assert unpack(message) == payloads


def test_nothing_queued_sends_nothing() -> None:
    assert list(pack([])) == []


@pytest.mark.parametrize("limit", [64, 100, 257, 1000])
def test_a_batch_never_exceeds_the_limit_and_order_is_kept(limit: int) -> None:
    payloads = _payloads(40, size=10)
    messages = list(pack(payloads, limit))
    assert all(len(m) <= limit for m in messages)
    assert len(messages) > 1
    out: list[bytes] = []
    for m in messages:
        out.extend(unpack(m) if is_batch(m) else [m])
    assert out == payloads


def test_a_payload_too_big_for_a_batch_goes_alone_and_plain() -> None:
    big = b"{" + b"y" * 300 + b"}"
    small = _payloads(2)
    messages = list(pack([small[0], big, small[1]], limit=128))
    assert messages == [small[0], big, small[1]]


def test_a_payload_that_looks_like_a_batch_is_wrapped() -> None:
    odd = MAGIC + b"binary serializer output"
    (message,) = pack([odd])
    assert unpack(message) == [odd]
    (message,) = pack([odd], limit=8)  # too big to share a batch: still wrapped
    assert unpack(message) == [odd]


def test_empty_payloads_survive() -> None:
    (message,) = pack([b"", b"{}"])
    assert unpack(message) == [b"", b"{}"]


@pytest.mark.parametrize(
    "data",
    [
        MAGIC,  # no payload at all
        MAGIC + b"\x00\x00",  # truncated length
        MAGIC + b"\x00\x00\x00\x09abc",  # length past the end
        MAGIC + b"\x00\x00\x00\x01a" + b"\x00\x00\x00\x05ab",  # second runs past the end
        MAGIC + b"\xff\xff\xff\xff",  # huge length
        b'{"a":1}',  # not a batch at all
    ],
)
def test_malformed_batches_raise(data: bytes) -> None:
    with pytest.raises(MalformedBatch):
        unpack(data)


def test_text_is_never_a_batch() -> None:
    assert not is_batch("\x00TPB")


def test_a_limit_below_the_header_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        list(pack([b"a"], limit=4))
