"""WebSocket codecs side by side, no sockets: wsproto against websockets' sans-I/O protocol.

One round trip is four codec steps on a ~140-byte binary message (a serialized job
response): the client frames and masks it, the server parses and unmasks it, the server
frames one back, the client parses it. Measured for ``wsproto`` (what trio_pipe's direct
client, its lean server and Hypercorn use) and for ``websockets.protocol`` (sans-I/O, with
its C-accelerated masking when built). ``websockets`` is not a trio_pipe dependency: its
side runs in the interpreter named by ``PIPECAT_PYTHON`` (Pipecat 1.14 depends on it);
without it that side is reported as not measured. Rounds alternate; each side's median
is printed, and the median of per-round ratios (wsproto time ÷ websockets time).

    python -m benchmarks.ws_codec [--ops N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks._harness import MIN_ROUNDS, emit

PAYLOAD = (
    b'{"__type__":"BusJobResponseMessage","job_id":"abc123@voice@gw-1",'
    b'"response":{"i":12345},"source":"worker","target":"voice","status":"completed"}'
)

WEBSOCKETS_SIDE = r"""
import json, sys, time
from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
try:
    from websockets import speedups  # noqa: F401
    accelerated = True
except ImportError:
    accelerated = False
payload, n = sys.argv[1].encode(), int(sys.argv[2])
client, server = ClientProtocol(parse_uri("ws://127.0.0.1/ws")), ServerProtocol()
client.send_request(client.connect())
server.receive_data(client.data_to_send()[0])
server.send_response(server.accept(server.events_received()[0]))
client.receive_data(b"".join(server.data_to_send()))
client.events_received()
t0 = time.perf_counter()
for _ in range(n):
    client.send_binary(payload)
    server.receive_data(b"".join(client.data_to_send()))
    server.events_received()
    server.send_binary(payload)
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
print(json.dumps({"us": (time.perf_counter() - t0) / n * 1e6, "accelerated": accelerated}))
"""


def wsproto_round_trips(payload: bytes, n: int) -> float:
    """µs per round trip with wsproto (this interpreter)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, BytesMessage, Request

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="127.0.0.1", target="/ws")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    t0 = time.perf_counter()
    for _ in range(n):
        server.receive_data(client.send(BytesMessage(data=payload)))
        list(server.events())
        client.receive_data(server.send(BytesMessage(data=payload)))
        list(client.events())
    return (time.perf_counter() - t0) / n * 1e6


def websockets_round_trips(python: str, payload: bytes, n: int) -> dict[str, object]:
    """µs per round trip with websockets' sans-I/O protocol, in ``python``."""
    done = subprocess.run(
        [python, "-c", WEBSOCKETS_SIDE, payload.decode(), str(n)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ops", type=int, default=50_000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="2,000 round trips, one round")
    args = parser.parse_args()
    if args.quick:
        args.ops, args.rounds = 2_000, 1
    other = os.environ.get("PIPECAT_PYTHON")
    wsproto_us: list[float] = []
    websockets_us: list[float] = []
    accelerated = None
    for _ in range(args.rounds):
        wsproto_us.append(wsproto_round_trips(PAYLOAD, args.ops))
        if other:
            found = websockets_round_trips(other, PAYLOAD, args.ops)
            websockets_us.append(float(found["us"]))  # type: ignore[arg-type]
            accelerated = found["accelerated"]
    doc: dict[str, object] = {
        "benchmark": "ws_codec",
        "area": "WebSocket seam",
        "round_trips": args.ops,
        "rounds": args.rounds,
        "payload_bytes": len(PAYLOAD),
        "wsproto_us_per_round_trip": round(statistics.median(wsproto_us), 2),
    }
    if websockets_us:
        per_round = [a / b for a, b in zip(wsproto_us, websockets_us, strict=True)]
        doc.update(
            websockets_us_per_round_trip=round(statistics.median(websockets_us), 2),
            websockets_c_accelerated=accelerated,
            wsproto_over_websockets={
                "median": round(statistics.median(per_round), 2),
                "min": round(min(per_round), 2),
                "max": round(max(per_round), 2),
            },
        )
    else:
        doc["websockets"] = "not measured: set PIPECAT_PYTHON to a Python with websockets"
    emit(doc)


if __name__ == "__main__":
    sys.exit(main())
