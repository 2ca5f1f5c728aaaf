"""Load generator for the session benchmarks: N WebSocket voice sessions from one process.

    python -m benchmarks._wsload URL N SECONDS SERVER_PID

Each session streams 16 kHz mono PCM16 in 20 ms protobuf audio frames (Pipecat's wire
format) in real time for SECONDS, the sessions' phases spread over the 20 ms period, and
stamps every echoed audio message as it arrives. Prints one JSON object: echoed/sent
audio, inter-arrival gaps of echoed messages against the ideal 40 ms (the server's chunk),
lag (arrival of a chunk minus the send of the last input frame it holds) and its growth
from the first second to the last, the server's CPU (from /proc/SERVER_PID/stat) and the
client's own.

Why it is not on Trio
    It shares the machine with the servers it measures, so every cycle it spends is one
    a server cannot: with two server processes on two cores, a client on Trio (two tasks
    and a timer wake-up per session and frame) took a third to half a core at 100-140
    sessions and capped what a second server process could show. This one is a single
    thread around one ``select.epoll``: the sessions' send times, spread over the period,
    form one increasing sequence, so one loop sends whatever is due, then waits in epoll
    for echoes until the next send is due. Every outgoing frame is precomputed, and
    incoming frames are only delimited, never decoded. It is the same client for every
    server.

Resource handling
    Every socket is closed when :func:`run` returns, whatever happened. A session whose
    connection fails or ends early is counted in ``failed_sessions``; the others go on.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import select
import socket
import statistics
import sys
import time
from urllib.parse import urlparse

from trio_pipe.frames import OutputAudioRawFrame
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer

RATE = 16000
FRAME_SECS = 0.020
FRAME_BYTES = int(RATE * FRAME_SECS) * 2  # 640
CHUNK_BYTES = FRAME_BYTES * 2  # the server's 40 ms output chunk
IDEAL_GAP = 2 * FRAME_SECS
WARMUP_MESSAGES = 5  # gaps and lag skip a session's first messages (its pipeline starting)
TAIL_SECS = 1.0  # wait for the last echoes after the stream ends
CONNECT_TIMEOUT = 30.0  # for every session's handshake together
SETTLE_SECS = 0.5  # after the handshakes: let every server-side session start its pipeline
CLOSE_TIMEOUT = 1.0  # for the server's close frames, at the end

_CLOSE = 0x8
_PING = 0x9
_PONG = 0xA
_BINARY = 0x2
_PROTOBUF_AUDIO = 0x12  # the first byte of a protobuf Frame holding audio


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
    """One client connection: its handshake, its unsent bytes, what it saw arrive."""

    __slots__ = (
        "arrivals",
        "buffer",
        "closed",
        "error",
        "handshaken",
        "pending",
        "send_late",
        "sent_at",
        "sock",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.pending = bytearray()  # bytes the socket did not take yet
        self.handshaken = False
        self.closed = False
        self.error: str | None = None
        self.sent_at: list[float] = []
        self.send_late: list[float] = []  # how late the client itself sent each frame
        self.arrivals: list[float] = []  # one per echoed audio message

    def write(self, data: bytes) -> None:
        """Send ``data`` after whatever is pending, as far as the socket takes it."""
        if self.closed:
            return
        if self.pending:
            self.pending += data
            data = bytes(self.pending)
            self.pending.clear()
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.fail(f"send: {exc!r}")
            return
        if sent < len(data):
            self.pending += data[sent:]

    def fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        self.closed = True

    def feed(self, data: bytes, now: float) -> None:
        """Take received bytes: finish the handshake, then delimit frames (nothing after
        a close frame counts)."""
        if self.closed:
            return
        buf = self.buffer
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                self.fail(f"handshake: {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.handshaken = True
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
            if opcode == _BINARY and length and buf[i] == _PROTOBUF_AUDIO:
                self.arrivals.append(now)
            elif opcode == _PING:
                self.write(_client_frame(_PONG, bytes(buf[i : i + length])))
            elif opcode == _CLOSE:
                self.closed = True
                del buf[:]
                return
            del buf[: i + length]


def due_time(start: float, k: int, count: int) -> float:
    """When the ``k``-th send of the run is due: from session ``k % count``, its frame
    ``k // count``; session ``i``'s phase is ``i / count`` of the period, so the due times
    of successive ``k`` never decrease and one loop can walk them in order."""
    frame, session = divmod(k, count)
    return start + (frame + session / count) * FRAME_SECS


class Load:
    """N sessions against one URL, driven by one epoll loop (see the module doc)."""

    def __init__(self, url: str, n: int) -> None:
        parts = urlparse(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port, parts.path
        self.n = n
        self.epoll = select.epoll()
        self.sessions: list[Session] = []
        self.by_fd: dict[int, Session] = {}

    def close(self) -> None:
        for s in self.sessions:
            s.sock.close()
        self.epoll.close()

    def connect(self) -> None:
        """Open every connection and wait (up to ``CONNECT_TIMEOUT``) for the handshakes."""
        for _ in range(self.n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(sock)
            self.sessions.append(session)
            try:
                sock.connect((self.host, self.port))
            except OSError as exc:
                session.fail(f"connect: {exc!r}")
                continue
            sock.setblocking(False)
            self.by_fd[sock.fileno()] = session
            self.epoll.register(sock.fileno(), select.EPOLLIN)
            key = base64.b64encode(os.urandom(16)).decode()
            session.write(
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
        deadline = time.perf_counter() + CONNECT_TIMEOUT
        while any(not s.handshaken and not s.closed for s in self.sessions):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            self.poll(left)
        for s in self.sessions:
            if not s.handshaken:
                s.fail(s.error or "connect: no handshake in time")

    def poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for data; feed what arrives, stamped on arrival."""
        events = self.epoll.poll(max(timeout, 0.0))
        if not events:
            return
        now = time.perf_counter()
        for fd, _ in events:
            session = self.by_fd[fd]
            try:
                data = session.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError as exc:
                data = b""
                session.fail(f"receive: {exc!r}")
            if data:
                session.feed(data, now)
            else:
                session.closed = True
            if session.closed:  # the end, or a close frame: the server is done with it
                self.epoll.unregister(fd)
                del self.by_fd[fd]

    def stream(self, message: bytes, seconds: float) -> None:
        """Send ``message`` from every live session every 20 ms for ``seconds``, in real
        time, reading echoes in between, then read for ``TAIL_SECS`` more."""
        live = [s for s in self.sessions if s.handshaken and not s.closed]
        count = len(live)
        total = int(seconds / FRAME_SECS) * count
        start = time.perf_counter() + 0.1
        k = 0
        while k < total:
            due = due_time(start, k, count)
            now = time.perf_counter()
            if due > now:
                self.poll(due - now)  # echoes until the next send is due
                continue
            s = live[k % count]
            s.sent_at.append(now)
            s.send_late.append(now - due)
            s.write(message)
            k += 1
        end = time.perf_counter() + TAIL_SECS
        while (left := end - time.perf_counter()) > 0:
            self.poll(left)

    def say_goodbye(self) -> None:
        """Send a close frame on every open session; wait a little for the servers'."""
        goodbye = _client_frame(_CLOSE, (1000).to_bytes(2, "big"))
        for s in self.sessions:
            if not s.closed:
                s.write(goodbye)
        end = time.perf_counter() + CLOSE_TIMEOUT
        while self.by_fd and (left := end - time.perf_counter()) > 0:
            self.poll(left)


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


def run(url: str, n: int, seconds: float, server_pid: int) -> dict[str, object]:
    """Run the load (see the module doc) and return its figures."""
    load = Load(url, n)
    try:
        load.connect()
        time.sleep(SETTLE_SECS)
        cpu0, wall0, own0 = _cpu_seconds(server_pid), time.perf_counter(), time.process_time()
        load.stream(_audio_message(), seconds)
        cpu1, wall1, own1 = _cpu_seconds(server_pid), time.perf_counter(), time.process_time()
        load.say_goodbye()
    finally:
        load.close()
    sessions = load.sessions
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
    print(json.dumps(run(url, n, seconds, pid)), flush=True)
