"""WebSocket codecs side by side, no sockets: wsproto, websockets' sans-I/O protocol, and
trio_pipe's client protocol on top of it.

One round trip is four codec steps on a ~140-byte binary message (a serialized job
response): the client frames and masks it, the server parses and unmasks it, the server
frames one back, the client parses it. Measured for ``wsproto`` (what Hypercorn uses),
for ``websockets.protocol`` on both ends (sans-I/O, C-accelerated masking when built),
and for ``trio_pipe.ws.protocol.ClientProtocol`` as the client against websockets' server
(the codec plus our message assembly and events: what the client really pays). Rounds
alternate; each one's median is printed, and the medians of per-round ratios.

    python -m benchmarks.ws_codec [--ops N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks._harness import MIN_ROUNDS, emit

PAYLOAD = (
    b'{"__type__":"BusJobResponseMessage","job_id":"abc123@voice@gw-1",'
    b'"response":{"i":12345},"source":"worker","target":"voice","status":"completed"}'
)


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


def _websockets_server(client_request: bytes) -> tuple[object, bytes]:
    from websockets.server import ServerProtocol

    server = ServerProtocol()
    server.receive_data(client_request)
    server.send_response(server.accept(server.events_received()[0]))
    return server, b"".join(server.data_to_send())


def websockets_round_trips(payload: bytes, n: int) -> float:
    """µs per round trip with websockets' sans-I/O protocol on both ends."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://127.0.0.1/ws"))
    client.send_request(client.connect())
    server, response = _websockets_server(client.data_to_send()[0])
    client.receive_data(response)
    client.events_received()
    t0 = time.perf_counter()
    for _ in range(n):
        client.send_binary(payload)
        server.receive_data(b"".join(client.data_to_send()))  # type: ignore[attr-defined]
        server.events_received()  # type: ignore[attr-defined]
        server.send_binary(payload)  # type: ignore[attr-defined]
        client.receive_data(b"".join(server.data_to_send()))  # type: ignore[attr-defined]
        client.events_received()
    return (time.perf_counter() - t0) / n * 1e6


def trio_pipe_round_trips(payload: bytes, n: int) -> float:
    """µs per round trip: trio_pipe's ClientProtocol against websockets' server."""
    from trio_pipe.ws.protocol import ClientProtocol

    client = ClientProtocol("ws://127.0.0.1/ws")
    server, response = _websockets_server(client.handshake())
    client.receive(response)
    t0 = time.perf_counter()
    for _ in range(n):
        server.receive_data(client.send(payload))  # type: ignore[attr-defined]
        server.events_received()  # type: ignore[attr-defined]
        server.send_binary(payload)  # type: ignore[attr-defined]
        client.receive(b"".join(server.data_to_send()))  # type: ignore[attr-defined]
    return (time.perf_counter() - t0) / n * 1e6


def _ratio(num: list[float], den: list[float]) -> dict[str, float]:
    per_round = [a / b for a, b in zip(num, den, strict=True)]
    return {
        "median": round(statistics.median(per_round), 2),
        "min": round(min(per_round), 2),
        "max": round(max(per_round), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ops", type=int, default=50_000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="2,000 round trips, one round")
    args = parser.parse_args()
    if args.quick:
        args.ops, args.rounds = 2_000, 1
    try:
        from websockets import speedups  # noqa: F401

        accelerated = True
    except ImportError:
        accelerated = False
    wsproto_us: list[float] = []
    websockets_us: list[float] = []
    ours_us: list[float] = []
    for _ in range(args.rounds):
        wsproto_us.append(wsproto_round_trips(PAYLOAD, args.ops))
        websockets_us.append(websockets_round_trips(PAYLOAD, args.ops))
        ours_us.append(trio_pipe_round_trips(PAYLOAD, args.ops))
    emit(
        {
            "benchmark": "ws_codec",
            "area": "WebSocket seam",
            "round_trips": args.ops,
            "rounds": args.rounds,
            "payload_bytes": len(PAYLOAD),
            "wsproto_us_per_round_trip": round(statistics.median(wsproto_us), 2),
            "websockets_us_per_round_trip": round(statistics.median(websockets_us), 2),
            "trio_pipe_client_us_per_round_trip": round(statistics.median(ours_us), 2),
            "websockets_c_accelerated": accelerated,
            "wsproto_over_websockets": _ratio(wsproto_us, websockets_us),
            "wsproto_over_trio_pipe_client": _ratio(wsproto_us, ours_us),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
