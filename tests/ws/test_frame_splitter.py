"""FrameSplitter with bytes alone: what it decodes, what it hands on, what it keeps."""

from __future__ import annotations

import random

import pytest
from websockets.frames import Close, Frame, Opcode

from trio_pipe.ws.frame_splitter import FrameSplitter, Raw

LIMIT = 1 << 16


def frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def hand_made(first_byte: int, payload: bytes) -> bytes:
    """A short masked frame with any first byte (the mask key zero: payload as is)."""
    return bytes([first_byte, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def text(message: str) -> bytes:
    return frame(Opcode.TEXT, message.encode())


def binary(message: bytes) -> bytes:
    return frame(Opcode.BINARY, message)


def feed_in_pieces(splitter: FrameSplitter, wire: bytes, seed: int) -> list:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(wire):
        step = rng.randint(1, 3000)
        out += splitter.feed(wire[pos : pos + step])
        pos += step
    return out


@pytest.mark.parametrize("seed", range(5))
def test_whole_messages_come_out_in_order_however_the_bytes_are_cut(seed):
    rng = random.Random(seed)
    messages: list[bytes | str] = []
    for i in range(300):
        size = rng.choice([0, 5, 125, 126, 65535, 70000 if i % 50 == 0 else 40])
        if size > LIMIT:
            size = LIMIT  # within the cap, with the 64-bit length form below it
        messages.append(
            "é" * (size // 2) if i % 2 else bytes(rng.getrandbits(8) for _ in range(size % 300))
        )
    wire = b"".join(text(m) if isinstance(m, str) else binary(m) for m in messages)
    splitter = FrameSplitter(LIMIT)
    assert feed_in_pieces(splitter, wire, seed) == messages
    assert not splitter.passthrough


def test_a_long_frame_is_kept_once_not_reparsed_per_read():
    splitter = FrameSplitter(LIMIT)
    wire = binary(b"x" * 60000)
    for start in range(0, 59000, 1000):
        assert splitter.feed(wire[start : start + 1000]) == []
        assert len(splitter._pending) == start + 1000  # this frame's bytes, nothing more
    assert splitter.feed(wire[59000:]) == [b"x" * 60000]
    assert not splitter._pending


def test_control_frames_go_on_whole_between_the_messages():
    ping, pong = frame(Opcode.PING, b"p1"), frame(Opcode.PONG, b"p2")
    splitter = FrameSplitter(LIMIT)
    out = splitter.feed(text("a") + ping + binary(b"b") + pong + text("c"))
    assert out == ["a", Raw(ping), b"b", Raw(pong), "c"]
    assert not splitter.passthrough


def test_everything_from_a_close_frame_on_goes_to_the_parser():
    close = frame(Opcode.CLOSE, Close(1000, "bye").serialize())
    splitter = FrameSplitter(LIMIT)
    late = text("late")
    assert splitter.feed(text("a") + close + late) == ["a", Raw(close), Raw(late)]
    assert splitter.passthrough
    assert splitter.feed(b"anything") == [Raw(b"anything")]


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(frame(Opcode.TEXT, b"part", fin=False), id="a fragment"),
        pytest.param(frame(Opcode.CONT, b"stray"), id="a continuation"),
        pytest.param(hand_made(0xC1, b"x"), id="an extension bit"),
        pytest.param(Frame(Opcode.TEXT, b"plain").serialize(mask=False), id="unmasked"),
        pytest.param(text("x" * (LIMIT + 1)), id="over the cap"),
        pytest.param(frame(Opcode.TEXT, b"\xff\xfe"), id="not UTF-8"),
        pytest.param(hand_made(0x83, b""), id="a reserved opcode"),
        pytest.param(hand_made(0x09, b"p"), id="a fragmented ping"),
    ],
)
def test_a_frame_it_does_not_decode_goes_to_the_parser_with_all_that_follows(odd):
    splitter = FrameSplitter(LIMIT)
    after = text("after")
    assert splitter.feed(text("before") + odd + after) == ["before", Raw(odd + after)]
    assert splitter.passthrough
    assert splitter.feed(after) == [Raw(after)]


def test_a_message_over_the_cap_is_handed_on_from_its_header_not_held():
    splitter = FrameSplitter(LIMIT)
    header = text("x" * (LIMIT + 1))[:14]
    assert splitter.feed(header) == [Raw(header)]
    assert splitter.passthrough and not splitter._pending


def test_stop_hands_over_what_it_held():
    splitter = FrameSplitter(LIMIT)
    wire = text("half")
    assert splitter.feed(wire[:5]) == []
    assert splitter.stop() == wire[:5]
    assert splitter.feed(wire[5:]) == [Raw(wire[5:])]


def test_a_header_cut_anywhere_waits_for_the_rest():
    wire = binary(b"y" * 70000) + text("z")
    for cut in range(1, 14):
        splitter = FrameSplitter(1 << 17)
        assert splitter.feed(wire[:cut]) == []
        assert splitter.feed(wire[cut:]) == [b"y" * 70000, "z"]
