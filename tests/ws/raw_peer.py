"""A misbehaving WebSocket client on a bare Trio TCP stream, for the attack tests.

It completes the opening handshake with wsproto and then writes raw frames as an
attacker would: pings without ever reading the pongs, or one huge message while ignoring
the server's close frame.
"""

from __future__ import annotations

import os
import struct

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request


async def open_raw(port: int, path: str = "/ws") -> trio.SocketStream:
    """A TCP stream to 127.0.0.1:``port`` with the WebSocket upgrade done."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    proto = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(proto.send(Request(host=f"127.0.0.1:{port}", target=path)))
    while True:
        data = await stream.receive_some(65536)
        assert data, "the server closed during the handshake"
        proto.receive_data(data)
        if any(isinstance(event, AcceptConnection) for event in proto.events()):
            return stream


def masked_frame_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """A client frame header (masked, mask key zero: the payload goes as is)."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + b"\x00\x00\x00\x00"


def ping_frames(count: int) -> bytes:
    """``count`` pings with the largest payload a control frame may carry."""
    payload = os.urandom(125)
    return (masked_frame_header(0x9, len(payload)) + payload) * count


async def flood_pings(stream: trio.SocketStream, *, stall: float = 0.3) -> int:
    """Send pings (never reading) until a write stalls for ``stall`` s; bytes written."""
    batch = ping_frames(256)
    written = 0
    while True:
        with trio.move_on_after(stall) as scope:
            try:
                await stream.send_all(batch)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return written
        if scope.cancelled_caught:
            return written
        written += len(batch)


async def send_huge_message(stream: trio.SocketStream, length: int, send: int) -> int:
    """Announce one binary message of ``length`` bytes and write ``send`` bytes of it,
    ignoring anything the server says; stops early when the connection breaks."""
    sent = 0
    chunk = b"\x00" * 65536
    try:
        await stream.send_all(masked_frame_header(0x2, length))
        while sent < send:
            await stream.send_all(chunk)
            sent += len(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    return sent


async def read_until_closed(stream: trio.SocketStream) -> None:
    """Read (and drop) until EOF or a reset: the server really closed the socket."""
    while True:
        try:
            data = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if not data:
            return


__all__ = [
    "flood_pings",
    "masked_frame_header",
    "open_raw",
    "ping_frames",
    "read_until_closed",
    "send_huge_message",
]
