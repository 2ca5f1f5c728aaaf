"""The sans-I/O client protocol (``trio_pipe.ws.protocol``), driven with bytes alone.

The server is websockets' sans-I/O ``ServerProtocol`` (an independent implementation) or
hand-made bytes; no socket, no event loop.
"""

from __future__ import annotations

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.server import ServerProtocol

from trio_pipe.ws.protocol import (
    Accepted,
    ClientProtocol,
    Closed,
    InvalidState,
    Pong,
    Rejected,
    State,
)


def out(server: ServerProtocol) -> bytes:
    return b"".join(server.data_to_send())


def to_server(server: ServerProtocol, data: bytes) -> list[Frame]:
    server.receive_data(data)
    return server.events_received()


def opened(**kwargs) -> tuple[ClientProtocol, ServerProtocol, list]:
    """A client and a server past the handshake; the client's first events."""
    client = ClientProtocol("ws://example.test:8080/ws?session=1", **kwargs)
    server = ServerProtocol()
    (request,) = to_server(server, client.handshake())
    server.send_response(server.accept(request))
    events = client.receive(out(server))
    assert client.state is State.OPEN
    return client, server, events


def test_the_handshake_carries_headers_and_agrees_on_a_subprotocol():
    client = ClientProtocol(
        "ws://example.test:8080/ws?session=1",
        headers={"Authorization": "Bearer t"},
        subprotocols=["trio-pipe.batch.v1"],
    )
    assert client.state is State.CONNECTING
    assert client.target.host == "example.test" and client.target.port == 8080
    request = client.handshake()
    assert request.startswith(b"GET /ws?session=1 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in request
    server = ServerProtocol(subprotocols=["trio-pipe.batch.v1"])
    (parsed,) = to_server(server, request)
    response = server.accept(parsed)
    response.headers["X-Served-By"] = "test"
    server.send_response(response)
    server.send_binary(b"early")  # a message in the same read as the response
    (accepted, early) = client.receive(out(server))
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == "trio-pipe.batch.v1" == client.subprotocol
    assert accepted.headers["x-served-by"] == "test"
    assert early == b"early" and type(early) is bytes
    assert client.state is State.OPEN
    with pytest.raises(InvalidState):
        client.handshake()


def test_calls_the_state_does_not_allow_raise():
    client = ClientProtocol("ws://example.test/ws")
    with pytest.raises(InvalidState):
        client.send(b"too early")
    with pytest.raises(InvalidState):
        client.ping(b"1")
    assert client.close() == b""  # nothing to close yet


def test_a_url_that_is_not_a_websocket_url_is_refused():
    with pytest.raises(ValueError, match="not a WebSocket URL"):
        ClientProtocol("http://example.test/ws")


def test_a_refused_upgrade_is_rejected_with_its_status():
    client = ClientProtocol("ws://example.test/ws")
    client.handshake()
    response = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nnope!\n"
    (rejected,) = client.receive(response)
    assert rejected == Rejected(401, rejected.reason)
    assert client.state is State.CLOSED
    assert client.receive(b"more") == []


def test_a_response_that_is_not_http_is_rejected_without_a_status():
    client = ClientProtocol("ws://example.test/ws")
    client.handshake()
    assert client.receive(b"SSH-2.0-OpenSSH\r\n\r\n") + client.receive(b"") == [
        Rejected(None, "did not receive a valid HTTP response")
    ]


def test_messages_both_ways_text_and_binary():
    client, server, _ = opened()
    frames = to_server(server, client.send(b"\x00\x01") + client.send("h\u00e9"))
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.BINARY, b"\x00\x01"),
        (Opcode.TEXT, "h\u00e9".encode()),
    ]
    server.send_text("h\u00e9".encode())
    server.send_binary(b"\xff")
    assert client.receive(out(server)) == ["h\u00e9", b"\xff"]


def _fragmented(server: ServerProtocol) -> bytes:
    server.send_text(b"sal", fin=False)
    server.send_continuation("\u00fct ".encode(), fin=False)
    server.send_continuation(b"!", fin=True)
    server.send_binary(b"next")
    return out(server)


def test_fragments_become_one_message_whatever_the_reads():
    client, server, _ = opened()
    one_read = client.receive(_fragmented(server))
    client, server, _ = opened()
    data = _fragmented(server)
    byte_by_byte = [event for i in range(len(data)) for event in client.receive(data[i : i + 1])]
    assert one_read == byte_by_byte == ["sal\u00fct !", b"next"]


def test_a_message_over_the_cap_fails_the_connection_with_1009():
    client, server, _ = opened(max_message_size=1000)
    server.send_binary(b"x" * 1000)  # at the cap: fine
    assert client.receive(out(server)) == [b"x" * 1000]
    server.send_binary(b"y" * 600, fin=False)
    server.send_continuation(b"y" * 600, fin=True)  # over it only in total
    (closed,) = client.receive(out(server))
    assert isinstance(closed, Closed) and closed.code == 1009
    assert client.state is State.CLOSED
    (close_frame,) = to_server(server, client.outgoing())
    assert Close.parse(close_frame.data).code == 1009


def test_invalid_utf8_in_a_text_message_fails_the_connection_with_1007():
    client, server, _ = opened()
    server.send_text(b"\xff\xfe")
    server.send_binary(b"after")  # nothing after the bad frame counts
    (closed,) = client.receive(out(server))
    assert isinstance(closed, Closed) and closed.code == 1007
    (close_frame,) = to_server(server, client.outgoing())
    assert Close.parse(close_frame.data).code == 1007


def test_a_bad_frame_fails_the_connection_with_1002():
    client, _, _ = opened()
    bad = bytes([0x80 | 0x03, 0x00])  # a reserved opcode
    (closed,) = client.receive(bad)
    assert isinstance(closed, Closed) and closed.code == 1002


def test_the_servers_pings_are_owed_pongs_and_ours_come_back():
    client, server, _ = opened()
    server.send_ping(b"srv")
    assert client.receive(out(server)) == []
    (pong,) = to_server(server, client.outgoing())
    assert pong.opcode is Opcode.PONG and pong.data == b"srv"
    assert client.outgoing() == b""  # owed once
    to_server(server, client.ping(b"\x00\x00\x00\x01"))  # the server answers on its own
    assert client.receive(out(server)) == [Pong(b"\x00\x00\x00\x01")]


def test_our_close_keeps_receiving_until_the_servers_close():
    client, server, _ = opened()
    frames = to_server(server, client.close(1000, "bye"))
    assert client.state is State.CLOSING
    assert frames[0].opcode is Opcode.CLOSE
    with pytest.raises(InvalidState):
        client.send(b"late")
    assert client.close() == b""  # idempotent
    # The server's close reply was queued by its protocol; a message it sent before
    # our close reached it still arrives first.
    reply = out(server)
    server2_message = Frame(Opcode.BINARY, b"in flight").serialize(mask=False)
    events = client.receive(server2_message + reply)
    assert events == [b"in flight", Closed(1000, "bye")]
    assert client.state is State.CLOSED
    assert client.receive(b"") == []


def test_the_servers_close_is_echoed_and_ends_the_connection():
    client, server, _ = opened()
    server.send_close(1001, "going away")
    assert client.receive(out(server)) == [Closed(1001, "going away")]
    assert client.state is State.CLOSED
    (echo,) = to_server(server, client.outgoing())
    assert Close.parse(echo.data).code == 1001


def test_the_end_of_the_stream_without_a_close_is_1006():
    client, _, _ = opened()
    assert client.receive(b"") == [Closed(1006, "connection lost")]
    assert client.state is State.CLOSED
