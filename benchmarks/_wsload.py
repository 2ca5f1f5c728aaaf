"""Load generator for ``transport_sessions``: N WebSocket voice sessions from one process.

    python -m benchmarks._wsload URL N SECONDS SERVER_PID

Each session streams 16 kHz mono PCM16 in 20 ms protobuf audio frames (Pipecat's wire
format) in real time for SECONDS, the sessions' phases spread over the 20 ms period, and
stamps every echoed audio message as it arrives. The client is deliberately lean (raw Trio
sockets, the WebSocket framing by hand, every outgoing frame precomputed) so that it costs
little next to the server it measures, and it is the same client for every server.

Prints one JSON object: echoed/sent audio, inter-arrival gaps of echoed messages against
the ideal 40 ms (the server's chunk), lag (arrival of a chunk minus the send of the last
input frame it holds) and its growth from the first second to the last, the server's CPU
(from /proc/SERVER_PID/stat) and the client's own.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import statistics
import sys
import time
from urllib.parse import urlparse

import trio

from trio_pipe.frames import OutputAudioRawFrame
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer

RATE = 16000
FRAME_SECS = 0.020
FRAME_BYTES = int(RATE * FRAME_SECS) * 2  # 640
CHUNK_BYTES = FRAME_BYTES * 2  # the server's 40 ms output chunk
IDEAL_GAP = 2 * FRAME_SECS
WARMUP_MESSAGES = 5  # gaps and lag skip a session's first messages (its pipeline starting)
TAIL_SECS = 1.0  # wait for the last echoes after the stream ends


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return header + mask + masked


def _audio_message() -> bytes:
    pcm = b"".join(((i * 97) % 4000 - 2000).to_bytes(2, "little", signed=True) for i in range(320))
    frame = OutputAudioRawFrame(audio=pcm, sample_rate=RATE, num_channels=1)
    frame.id, frame.name = 1, "OutputAudioRawFrame#0"
    payload = ProtobufFrameSerializer().encode(frame)
    assert payload is not None
    return _client_frame(0x2, payload)


class Session:
    """One client: connect, stream, read."""

    def __init__(self, url: str, message: bytes) -> None:
        parts = urlparse(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port, parts.path
        self.message = message
        self.stream: trio.SocketStream | None = None
        self.buffer = bytearray()
        self.sent_at: list[float] = []
        self.send_late: list[float] = []  # how late the client itself sent each frame
        self.arrivals: list[float] = []  # one per echoed audio message
        self.closed = False
        self.closed_event = trio.Event()
        self.error: str | None = None

    async def connect(self) -> None:
        stream = await trio.open_tcp_stream(self.host, self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send_all(request.encode())
        data = bytearray()
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            data += chunk
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        self.buffer += rest
        self.stream = stream

    async def send(self, start: float, frames: int) -> None:
        assert self.stream is not None
        offset = time.perf_counter() - trio.current_time()  # perf_counter on Trio's clock
        for j in range(frames):
            due = start + j * FRAME_SECS
            await trio.sleep_until(due)
            now = time.perf_counter()
            self.sent_at.append(now)
            self.send_late.append(now - offset - due)
            try:
                await self.stream.send_all(self.message)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self.error = f"send: {exc!r}"
                return

    async def read(self) -> None:
        assert self.stream is not None
        buf = self.buffer
        while not self.closed:
            try:
                chunk = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._set_closed()
                return
            if not chunk:
                self._set_closed()
                return
            now = time.perf_counter()
            buf += chunk
            await self._parse(buf, now)

    async def _parse(self, buf: bytearray, now: float) -> None:
        while len(buf) >= 2:
            length, i = buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, i = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, i = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < i + length:
                return
            opcode = buf[0] & 0x0F
            first = buf[i] if length else 0
            payload = bytes(buf[i : i + length]) if opcode in (0x8, 0x9) else b""
            del buf[: i + length]
            if opcode == 0x2 and first == 0x12:  # a protobuf Frame holding audio
                self.arrivals.append(now)
            elif opcode == 0x9 and self.stream is not None:  # ping: answer it
                await self.stream.send_all(_client_frame(0xA, payload))
            elif opcode == 0x8:
                self._set_closed()
                return

    def _set_closed(self) -> None:
        self.closed = True
        self.closed_event.set()

    async def close(self) -> None:
        if self.stream is None:
            return
        try:
            await self.stream.send_all(_client_frame(0x8, (1000).to_bytes(2, "big")))
            with trio.move_on_after(1.0):
                await self.closed_event.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self.stream.aclose()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summarize(sessions: list[Session], seconds: float) -> dict[str, float]:
    sent_bytes = sum(len(s.sent_at) for s in sessions) * FRAME_BYTES
    echoed_bytes = sum(len(s.arrivals) for s in sessions) * CHUNK_BYTES
    gaps: list[float] = []
    first_lags: list[float] = []
    last_lags: list[float] = []
    lags: list[float] = []
    for s in sessions:
        arrivals = s.arrivals[WARMUP_MESSAGES:]
        gaps += [b - a for a, b in itertools.pairwise(arrivals)]
        if not s.sent_at:
            continue
        t0 = s.sent_at[0]
        for k, arrival in enumerate(s.arrivals):
            last_frame = 2 * k + 1
            if k < WARMUP_MESSAGES or last_frame >= len(s.sent_at):
                continue
            lag = arrival - s.sent_at[last_frame]
            lags.append(lag)
            at = s.sent_at[last_frame] - t0
            if at < 1.0 + WARMUP_MESSAGES * IDEAL_GAP:
                first_lags.append(lag)
            elif at >= seconds - 1.0:
                last_lags.append(lag)
    growth = (
        statistics.median(last_lags) - statistics.median(first_lags)
        if first_lags and last_lags
        else float("inf")
    )
    return {
        "sent_bytes": sent_bytes,
        "echoed_bytes": echoed_bytes,
        "echoed_ratio": round(echoed_bytes / sent_bytes, 4) if sent_bytes else 0.0,
        "gap_p50_ms": round(_percentile(gaps, 0.50) * 1e3, 2),
        "gap_p99_ms": round(_percentile(gaps, 0.99) * 1e3, 2),
        "ideal_gap_ms": IDEAL_GAP * 1e3,
        "lag_p50_ms": round(_percentile(lags, 0.50) * 1e3, 2),
        "lag_p99_ms": round(_percentile(lags, 0.99) * 1e3, 2),
        "lag_growth_ms": round(growth * 1e3, 2),
        # The load generator's own lateness: when it is high, the client (not the server)
        # was short of CPU and the figures above are not the server's alone.
        "client_late_p99_ms": round(
            _percentile([x for s in sessions for x in s.send_late], 0.99) * 1e3, 2
        ),
    }


async def main(url: str, n: int, seconds: float, server_pid: int) -> dict[str, object]:
    message = _audio_message()
    sessions = [Session(url, message) for _ in range(n)]
    limiter = trio.CapacityLimiter(16)

    async def connect(s: Session) -> None:
        async with limiter:
            try:
                await s.connect()
            except (OSError, ConnectionError) as exc:
                s.error = f"connect: {exc!r}"

    async with trio.open_nursery() as nursery:
        for s in sessions:
            nursery.start_soon(connect, s)
    live = [s for s in sessions if s.stream is not None]
    await trio.sleep(0.5)  # let every server-side session start its pipeline
    frames = int(seconds / FRAME_SECS)
    cpu0, wall0, own0 = _cpu_seconds(server_pid), time.perf_counter(), time.process_time()
    start = trio.current_time() + 0.1
    async with trio.open_nursery() as nursery:
        for s in live:
            nursery.start_soon(s.read)
        async with trio.open_nursery() as senders:
            for i, s in enumerate(live):
                senders.start_soon(s.send, start + FRAME_SECS * i / max(1, len(live)), frames)
        await trio.sleep(TAIL_SECS)
        cpu1, wall1, own1 = _cpu_seconds(server_pid), time.perf_counter(), time.process_time()
        async with trio.open_nursery() as closers:
            for s in live:
                closers.start_soon(s.close)
        nursery.cancel_scope.cancel()
    result: dict[str, object] = {"sessions": n, "seconds": seconds}
    result.update(summarize(sessions, seconds))
    server_core = (cpu1 - cpu0) / (wall1 - wall0)
    result["server_cpu_cores"] = round(server_core, 3)
    result["cpu_per_session_pct"] = round(100 * server_core / n, 3)
    result["client_cpu_cores"] = round((own1 - own0) / (wall1 - wall0), 3)
    result["failed_sessions"] = sum(1 for s in sessions if s.error)
    return result


if __name__ == "__main__":
    url, n, seconds, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(trio.run(main, url, n, seconds, pid)), flush=True)
