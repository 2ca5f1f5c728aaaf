"""benchmarks._wsload: the session load generator's framing, schedule and send buffer.

``Session`` is driven with bytes (a socket pair stands in for the connection where it
must answer); the schedule is a pure function. The whole generator against real servers
runs in test_benchmark_scripts.py.
"""

from __future__ import annotations

import itertools
import socket

import pytest

from benchmarks._wsload import (
    FRAME_SECS,
    Session,
    _audio_message,
    _client_frame,
    due_time,
)

HANDSHAKE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, n]) + payload
    if n < 1 << 16:
        return bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big") + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    """Opcode and payload of one masked client frame."""
    n, i = frame[1] & 0x7F, 2
    if n == 126:
        n, i = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, i = int.from_bytes(frame[2:10], "big"), 10
    mask, body = frame[i : i + 4], frame[i + 4 : i + 4 + n]
    return frame[0] & 0x0F, bytes(b ^ mask[j % 4] for j, b in enumerate(body))


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


AUDIO = b"\x12" + b"\x00" * 1300  # a protobuf Frame holding audio starts with 0x12
OTHER = b"\x0a" + b"\x00" * 10  # any other protobuf Frame


def test_echoed_audio_is_stamped_on_arrival_even_when_split_across_reads(pair) -> None:
    session = Session(pair[0])
    wire = HANDSHAKE + server_frame(0x2, AUDIO) + server_frame(0x2, OTHER)
    wire += server_frame(0x2, AUDIO)
    for at, cut in enumerate(range(0, len(wire), 7)):  # 7 bytes at a time
        session.feed(wire[cut : cut + 7], float(at))
    assert session.handshaken and not session.closed and session.error is None
    # Two audio messages, each stamped with the read that completed it.
    assert len(session.arrivals) == 2
    first_done = (len(HANDSHAKE) + len(server_frame(0x2, AUDIO)) - 1) // 7
    assert session.arrivals[0] == float(first_done)
    assert session.arrivals[1] == float((len(wire) - 1) // 7)
    assert not session.buffer


def test_a_large_frame_with_a_64_bit_length_is_delimited(pair) -> None:
    session = Session(pair[0])
    big = b"\x12" + b"\x01" * 70_000
    session.feed(HANDSHAKE + server_frame(0x2, big) + server_frame(0x2, AUDIO), 1.0)
    assert session.arrivals == [1.0, 1.0]


def test_a_ping_is_answered_with_a_masked_pong_of_the_same_payload(pair) -> None:
    session = Session(pair[0])
    session.feed(HANDSHAKE + server_frame(0x9, b"are you there"), 0.0)
    assert unmask(pair[1].recv(100)) == (0xA, b"are you there")


def test_a_close_frame_ends_the_session_without_an_error(pair) -> None:
    session = Session(pair[0])
    session.feed(HANDSHAKE + server_frame(0x8, (1000).to_bytes(2, "big")), 0.0)
    session.feed(server_frame(0x2, AUDIO), 1.0)  # nothing after a close counts
    assert session.closed and session.error is None
    assert session.arrivals == []


def test_a_refused_handshake_fails_the_session(pair) -> None:
    session = Session(pair[0])
    session.feed(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", 0.0)
    assert session.closed
    assert session.error == "handshake: HTTP/1.1 403 Forbidden"


def test_bytes_the_socket_does_not_take_are_sent_later_in_order(pair) -> None:
    a, b = pair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    session = Session(a)
    message = _audio_message()
    for _ in range(400):  # far more than the peer's buffers hold while it does not read
        session.write(message)
    assert session.pending, "the socket took everything: the test proves nothing"
    received = bytearray()
    while len(received) < 400 * len(message):
        received += b.recv(1 << 20)
        session.write(b"")  # what a later send does first: flush what is pending
    assert bytes(received) == message * 400
    assert not session.pending and session.error is None


def test_a_send_to_a_closed_peer_fails_the_session(pair) -> None:
    a, b = pair
    b.close()
    session = Session(a)
    session.write(_client_frame(0x2, b"x"))
    assert session.closed and session.error is not None and session.error.startswith("send")


@pytest.mark.parametrize("count", [1, 3, 120])
def test_due_times_never_decrease_and_keep_each_session_on_a_20_ms_period(count: int) -> None:
    times = [due_time(10.0, k, count) for k in range(count * 50)]
    assert times == sorted(times)
    for session in range(count):
        own = times[session::count]
        assert own[0] == pytest.approx(10.0 + FRAME_SECS * session / count)
        steps = {round(b - a, 9) for a, b in itertools.pairwise(own)}
        assert steps == {round(FRAME_SECS, 9)}
