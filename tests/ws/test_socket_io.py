"""Reads and writes on the OS socket under a Trio stream (trio_pipe.ws.socket_io), on
real loopback sockets: the same bytes, checkpoints and errors as the stream's own."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from trio_pipe.ws.base import WrappedStream
from trio_pipe.ws.socket_io import os_socket, receive_now, send_now

LIMIT = 10


async def _tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listener.accept()
    await listener.aclose()
    return client, server


async def _read_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        got += await stream.receive_some(n - len(got))
    return bytes(got)


class _Held(WrappedStream):
    held = False

    @property
    def writes_held(self) -> bool:
        return self.held


class _Steps(trio.abc.Instrument):
    """Counts the steps of one task: each step after the first follows a yield."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task, self.steps = task, 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


async def test_the_os_socket_is_found_through_wrapping_layers_and_only_there():
    with trio.fail_after(LIMIT):
        client, server = await _tcp_pair()
        async with client, server:
            raw = client.socket._sock
            layer = _Held(WrappedStream(client))
            assert os_socket(client) is raw
            assert os_socket(layer, for_writing=True) is raw
            layer.held = True  # a half-close in progress: no write may pass it
            assert os_socket(layer, for_writing=True) is None
            assert os_socket(layer) is raw  # reading is not held
            await client.send_eof()
            assert os_socket(client, for_writing=True) is None  # shut down for writing
        memory, _ = trio.testing.memory_stream_pair()
        assert os_socket(memory) is None  # not a TCP stream: used the usual way
        assert send_now(None, b"x") == 0


async def test_a_write_goes_out_at_once_and_a_full_buffer_leaves_the_rest_in_order():
    with trio.fail_after(LIMIT):
        client, server = await _tcp_pair()
        async with client, server:
            sock = os_socket(client, for_writing=True)
            assert send_now(sock, b"hello") == 5
            assert await _read_exactly(server, 5) == b"hello"
            # Fill the send path while the peer does not read: the kernel then takes
            # part of a write or none of it, and the caller writes the rest itself.
            chunk = bytes(range(256)) * 256
            written = bytearray()
            while True:
                sent = send_now(sock, chunk)
                written += chunk[:sent]
                if sent < len(chunk):
                    break
            rest = chunk[sent:]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_all, rest)
                received = await _read_exactly(server, len(written) + len(rest))
            assert received == bytes(written) + rest


async def test_a_closed_socket_takes_nothing_and_raises_nothing():
    with trio.fail_after(LIMIT):
        client, server = await _tcp_pair()
        sock = os_socket(client, for_writing=True)
        await server.aclose()
        await client.aclose()
        assert send_now(sock, b"late") == 0


async def test_a_read_waits_for_data_yields_as_trio_does_and_ends_at_eof():
    with trio.fail_after(LIMIT):
        client, server = await _tcp_pair()
        async with client, server:
            sock = os_socket(server)
            assert sock is not None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_all, b"late")
                assert await receive_now(sock, 100) == b"late"  # waited for it
            await client.send_all(b"ready")
            # Loopback delivers within send_all: the read below finds the data waiting.
            steps = _Steps(trio.lowlevel.current_task())
            trio.lowlevel.add_instrument(steps)
            try:
                assert await receive_now(sock, 100) == b"ready"
            finally:
                trio.lowlevel.remove_instrument(steps)
            assert steps.steps == 1  # data at once: still one scheduler pass, as Trio's
            with trio.CancelScope() as scope:
                scope.cancel()
                with pytest.raises(trio.Cancelled):
                    await receive_now(sock, 100)  # a cancelled reader reads nothing
            await client.send_eof()
            assert await receive_now(sock, 100) == b""


async def test_read_errors_are_the_streams_errors():
    with trio.fail_after(LIMIT):
        client, server = await _tcp_pair()
        sock = os_socket(server)
        assert sock is not None
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await receive_now(sock, 100)

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            await server.aclose()  # closed under a waiting reader
        await client.aclose()
        client, server = await _tcp_pair()
        sock = os_socket(server)
        assert sock is not None
        client.socket.setsockopt(
            trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        await client.aclose()  # a reset
        with pytest.raises(trio.BrokenResourceError):
            while await receive_now(sock, 100):
                pass
        await server.aclose()
