"""Memory bounds: how much a real server process grows under hostile clients.

A fresh ``trio-pipe serve --protocol raw`` process (the echo bot, Hypercorn on Trio) per
scenario; its resident set is sampled from ``/proc`` every 10 ms (and ``VmHWM``, the
kernel's own peak, read at the end). Each scenario reports the idle RSS (after the
server started and one client said hello), the peak RSS during the attack, and the
peak's growth over idle; the target is growth <= 64 MiB.

* ``oversize``: three clients at once each announce one 300 MiB binary message and
  write as much of it as the server lets them, ignoring the server's 1009 close frame.
  Reported too: bytes each client got through before the server dropped it, and whether
  its socket was closed by the server (EOF or reset) within the deadline.
* ``audio_flood``: one client sends 16 kHz PCM16 at 100x real time (20 ms frames) for
  the duration, reading (and dropping) the echo as it comes; another client's 20
  round trips afterwards show the server still serves.

    python -m benchmarks.memory_bounds            # 3 x 300 MiB, 10 s of 100x audio
    python -m benchmarks.memory_bounds --quick    # 3 x 100 MiB, 3 s of 100x audio
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import time
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from benchmarks._harness import emit

MIB = 1 << 20
TARGET_MIB = 64
FRAME_20MS = b"\x01\x00" * 320  # 16 kHz mono PCM16


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Server:
    """A ``trio-pipe serve`` child process on a free loopback port."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "trio_pipe", "serve", "--port", "0", "--protocol", "raw"]
        command += ["--in-rate", "16000", "--out-rate", "16000", "--echo", "plain"]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().strip()
        if not url.startswith("ws://"):
            self.stop()
            raise RuntimeError(f"trio-pipe serve did not start ({url!r})")
        self.url = url
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        self.peak_kib = 0

    def rss_mib(self) -> float:
        return _rss_kib(self.proc.pid) / 1024

    async def sample(self) -> None:
        """Track the peak RSS until cancelled."""
        while True:
            self.peak_kib = max(self.peak_kib, _rss_kib(self.proc.pid))
            await trio.sleep(0.01)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _open_raw(port: int) -> trio.SocketStream:
    """A TCP stream with the WebSocket upgrade done (wsproto, client side)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    proto = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(proto.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
    while True:
        data = await stream.receive_some(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        proto.receive_data(data)
        if any(isinstance(e, AcceptConnection) for e in proto.events()):
            return stream


def _binary_header(length: int) -> bytes:
    """A masked client frame header (zero mask key) for one binary message."""
    return struct.pack("!BBQ", 0x82, 0x80 | 127, length) + b"\x00\x00\x00\x00"


async def _hello(server: Server) -> None:
    """One echo round trip: the server is up and has served a session."""
    from trio_pipe.ws.client import open_client_socket

    async with open_client_socket(f"ws://127.0.0.1:{server.port}/ws") as sock:
        await sock.send(FRAME_20MS * 2)
        got = b""
        with trio.fail_after(10):
            while len(got) < len(FRAME_20MS) * 2:
                got += await sock.receive()  # type: ignore[operator]


async def _round_trips(server: Server, count: int) -> int:
    from trio_pipe.ws.client import open_client_socket

    done = 0
    async with open_client_socket(f"ws://127.0.0.1:{server.port}/ws") as sock:
        for _ in range(count):
            await sock.send(FRAME_20MS * 2)
            got = b""
            with trio.fail_after(10):
                while len(got) < len(FRAME_20MS) * 2:
                    got += await sock.receive()  # type: ignore[operator]
            done += 1
    return done


async def _oversize_client(port: int, size: int, deadline: float) -> dict[str, Any]:
    """Announce ``size`` bytes, write until the server drops us; read until EOF."""
    stream = await _open_raw(port)
    sent = 0
    closed_by_server = False
    chunk = b"\x00" * (256 * 1024)
    started = time.perf_counter()

    async def write() -> None:
        nonlocal sent
        try:
            await stream.send_all(_binary_header(size))
            while sent < size:
                await stream.send_all(chunk)
                sent += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def read() -> None:
        nonlocal closed_by_server
        while True:
            try:
                data = await stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                break
            if not data:
                break
        closed_by_server = True

    with trio.move_on_after(deadline):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            await read()
            nursery.cancel_scope.cancel()
    elapsed = time.perf_counter() - started
    with trio.CancelScope(shield=True):
        await trio.aclose_forcefully(stream)
    return {
        "sent_mib": round(sent / MIB, 1),
        "closed_by_server": closed_by_server,
        "seconds_to_close": round(elapsed, 2) if closed_by_server else None,
    }


async def oversize(server: Server, clients: int, size: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []

    async def one() -> None:
        results.append(await _oversize_client(server.port, size, deadline=60))

    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(one)
    return {"clients": results, "round_trips_after": await _round_trips(server, 20)}


async def audio_flood(server: Server, seconds: float, speed: float) -> dict[str, Any]:
    from trio_pipe.ws.base import ConnectionClosed
    from trio_pipe.ws.client import open_client_socket

    interval = 0.02 / speed
    sent = received = 0
    async with open_client_socket(f"ws://127.0.0.1:{server.port}/ws") as sock:

        async def drain() -> None:
            nonlocal received
            try:
                while True:
                    received += len(await sock.receive())
            except ConnectionClosed:
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            start = trio.current_time()
            end = start + seconds
            while trio.current_time() < end:
                # Catch up to the 100x schedule in bursts (one send per 0.2 ms is more
                # than a sleep can time).
                due = int((trio.current_time() - start) / interval) + 1
                while sent < due:
                    await sock.send(FRAME_20MS)
                    sent += 1
                await trio.sleep(0.005)
            await trio.sleep(0.5)
            nursery.cancel_scope.cancel()
    return {
        "audio_sent_s": round(sent * 0.02, 1),
        "audio_echoed_s": round(received / 32000, 1),
        "wall_s": seconds,
        "round_trips_after": await _round_trips(server, 20),
    }


async def scenario(name: str, attack: Any) -> dict[str, Any]:
    server = Server()
    try:
        await _hello(server)
        await trio.sleep(0.5)
        idle = server.rss_mib()
        server.peak_kib = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.sample)
            details = await attack(server)
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        peak = server.peak_kib / 1024
        after = server.rss_mib()
        return {
            "scenario": name,
            "idle_rss_mib": round(idle, 1),
            "peak_rss_mib": round(peak, 1),
            "peak_growth_mib": round(peak - idle, 1),
            "rss_after_mib": round(after, 1),
            "target_growth_mib": TARGET_MIB,
            "within_target": peak - idle <= TARGET_MIB,
            **details,
        }
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> None:
    size = (100 if args.quick else 300) * MIB
    seconds = 3.0 if args.quick else 10.0
    results = [
        await scenario("oversize", lambda s: oversize(s, 3, size)),
        await scenario("audio_flood", lambda s: audio_flood(s, seconds, 100.0)),
    ]
    emit(
        {
            "benchmark": "memory_bounds",
            "quick": args.quick,
            "server": "trio-pipe serve --protocol raw (Hypercorn, Trio)",
            "message_mib": size // MIB,
            "flood": {"speed_x_real_time": 100, "seconds": seconds},
            "cpu_count": os.cpu_count(),
            "results": results,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 x 100 MiB, 3 s of flood")
    trio.run(main, parser.parse_args())
