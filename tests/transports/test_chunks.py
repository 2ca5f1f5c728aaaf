"""Chunking and packetizing, pure (O3, O9, O10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_pipe.transports.chunks import AudioChunker, Packetizer


def test_full_chunks_and_remainder() -> None:
    chunker = AudioChunker(1280)
    chunks = chunker.add(b"\x01" * 16000)
    assert [len(c) for c, _ in chunks] == [1280] * 12
    assert chunker.buffered == 640
    audio, interruptible = chunker.flush()
    assert audio == b"\x01" * 640 + bytes(640) and interruptible
    assert chunker.flush() is None


def test_mixed_chunk_is_uninterruptible_and_interruption_keeps_it() -> None:
    chunker = AudioChunker(4)
    assert chunker.add(b"ab", interruptible=True) == []
    assert chunker.add(b"cdef", interruptible=False) == [(b"abcd", False)]
    assert chunker.add(b"g", interruptible=True) == []
    chunker.drop_interruptible()
    assert chunker.buffered == 2
    assert chunker.flush() == (b"ef\x00\x00", False)


def test_clear_and_bad_size() -> None:
    chunker = AudioChunker(4)
    chunker.add(b"abc")
    chunker.clear()
    assert chunker.buffered == 0
    with pytest.raises(ValueError):
        AudioChunker(0)
    with pytest.raises(ValueError):
        Packetizer(0)


@given(st.lists(st.binary(max_size=3000), max_size=20), st.integers(1, 2000))
def test_chunker_keeps_every_byte_in_order(pieces: list[bytes], size: int) -> None:
    chunker = AudioChunker(size)
    out = b"".join(c for piece in pieces for c, _ in chunker.add(piece))
    tail = chunker.flush()
    data = b"".join(pieces)
    assert out == data[: len(out)]
    if tail is not None:
        assert tail[0].rstrip(b"\x00") == data[len(out) :].rstrip(b"\x00")


def test_packetizer_carries_the_remainder() -> None:
    """T45's arithmetic."""
    packets = Packetizer(640)
    assert [len(p) for p in packets.feed(bytes(1000))] == [640]
    assert [len(p) for p in packets.feed(bytes(1000))] == [640, 640]
    assert packets.pending == 80
    packets.clear()
    assert packets.pending == 0


@given(st.lists(st.binary(max_size=2000), max_size=20), st.integers(1, 700))
def test_packets_are_exact_and_in_order(pieces: list[bytes], size: int) -> None:
    packets = Packetizer(size)
    out = [p for piece in pieces for p in packets.feed(piece)]
    assert all(len(p) == size for p in out)
    joined = b"".join(out)
    assert joined + b"".join(pieces)[len(joined) :] == b"".join(pieces)
    assert packets.pending == len(b"".join(pieces)) - len(joined) < size
