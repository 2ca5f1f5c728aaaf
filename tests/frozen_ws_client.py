"""A WebSocket client process that reads what a server streams, to be frozen by a test.

    python frozen_ws_client.py HOST PORT

Connects with a small receive buffer (so a frozen reader soon closes its TCP window),
prints "ready" once it has read 100 kB, then keeps reading until the server goes away.
Plain sockets: nothing in it answers for the process once it is stopped (SIGSTOP).
"""

from __future__ import annotations

import base64
import os
import socket
import sys


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit("closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        sys.exit(f"handshake refused: {head[:80]!r}")
    received, announced = 0, False
    while True:
        data = sock.recv(65536)
        if not data:
            return
        received += len(data)
        if not announced and received > 100_000:
            print("ready", flush=True)
            announced = True


if __name__ == "__main__":
    main()
