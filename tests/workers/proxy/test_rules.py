"""The proxies' pure parts, without sockets: forwarding rules (P2-P5, P10, P11 as rules),
frame decoding, the reconnect policy and the handshake checks."""

from __future__ import annotations

import itertools
import random

import pytest

from trio_pipe.backoff import reconnect_delays
from trio_pipe.bus.messages import (
    BusAddWorkerMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusTTSSpeakMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerRegistryMessage,
    JobStatus,
    WorkerRegistryEntry,
)
from trio_pipe.frames import TextFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers import JSONMessageSerializer, MessageDecodeError
from trio_pipe.workers import BaseWorker
from trio_pipe.workers.proxy import (
    ClientRules,
    HandshakeRefusal,
    Reconnect,
    ServerRules,
    check_handshake,
    origin_allowed,
)
from trio_pipe.workers.proxy.rules import decode_frame


def request(source: str, target: str | None) -> BusJobRequestMessage:
    return BusJobRequestMessage(job_id="j", source=source, target=target)


def frame(source: str, target: str | None = None) -> BusFrameMessage:
    return BusFrameMessage(
        frame=TextFrame(text="hi"),
        direction=FrameDirection.DOWNSTREAM,
        source=source,
        target=target,
    )


def registry(source: str = "gateway", target: str | None = None) -> BusWorkerRegistryMessage:
    return BusWorkerRegistryMessage(
        runner="runner-b", workers=[WorkerRegistryEntry("worker")], source=source, target=target
    )


CLIENT = ClientRules("worker", "voice")
CLIENT_FRAMES = ClientRules("worker", "voice", (BusFrameMessage,))
SERVER = ServerRules("worker", "voice")
SERVER_FRAMES = ServerRules("worker", "voice", (BusFrameMessage,))


# --- client, outbound (P2-P4) ------------------------------------------------------------


def test_p2_client_sends_anything_targeted_at_the_remote_worker_whatever_its_source():
    assert CLIENT.outbound(request("voice", "worker"))
    assert CLIENT.outbound(request("someone-else", "worker"))


def test_p3_client_sends_no_broadcast_no_third_target_and_no_local_message():
    assert not CLIENT.outbound(request("voice", None))
    assert not CLIENT.outbound(request("voice", "third"))
    assert not CLIENT.outbound(
        BusWorkerLocalErrorMessage(error="x", source="voice", target="worker")
    )
    assert not CLIENT.outbound(BusAddWorkerMessage(worker=BaseWorker("w"), source="voice"))


def test_p4_client_forwards_frames_from_the_local_worker_whatever_their_target():
    assert CLIENT_FRAMES.outbound(frame("voice"))
    assert CLIENT_FRAMES.outbound(frame("voice", "anyone"))
    assert not CLIENT_FRAMES.outbound(frame("other"))
    assert not CLIENT.outbound(frame("voice"))  # not asked for


# --- client, inbound (P5) ------------------------------------------------------------------


def test_p5_client_accepts_its_target_registry_messages_and_forward_types():
    assert CLIENT.inbound(
        BusJobResponseMessage(
            job_id="j", status=JobStatus.COMPLETED, source="worker", target="voice"
        )
    )
    assert CLIENT.inbound(registry())
    assert CLIENT.inbound(registry(target="somebody"))
    assert CLIENT_FRAMES.inbound(frame("worker", "anyone"))
    assert not CLIENT.inbound(frame("worker", "anyone"))
    assert not CLIENT.inbound(request("worker", "third"))
    assert not CLIENT.inbound(request("worker", None))


# --- server, outbound (P10) ----------------------------------------------------------------


def test_p10_server_sends_only_the_local_workers_messages_to_the_remote_worker():
    assert SERVER.outbound(request("worker", "voice"))
    assert not SERVER.outbound(request("worker", "third"))
    assert not SERVER.outbound(request("other", "voice"))
    assert not SERVER.outbound(request("worker", None))
    assert SERVER_FRAMES.outbound(frame("worker", "anyone"))
    assert not SERVER_FRAMES.outbound(frame("other", "voice"))


def test_server_never_forwards_registry_or_local_messages_from_the_bus():
    rules = ServerRules("worker", "voice", (BusWorkerRegistryMessage,))
    assert not rules.outbound(registry(source="worker", target="voice"))
    local = BusWorkerLocalErrorMessage(error="x", source="worker", target="voice")
    assert not SERVER.outbound(local)


# --- server, inbound (P11) -----------------------------------------------------------------


def test_p11_server_accepts_its_target_and_forward_types_and_nothing_else():
    assert SERVER.inbound(request("voice", "worker"))
    assert SERVER_FRAMES.inbound(frame("voice", "anyone"))
    assert not SERVER.inbound(registry())  # a client's registry message: dropped
    assert not SERVER.inbound(request("voice", "third"))
    assert not SERVER.inbound(BusTTSSpeakMessage(text="x", source="voice"))


def test_local_messages_are_never_accepted_inbound():
    local = BusWorkerLocalErrorMessage(error="x", source="voice", target="worker")
    assert not SERVER.inbound(local)
    assert not ClientRules("worker", "worker").inbound(local)


def test_forward_messages_must_be_message_classes():
    assert ClientRules("w", "v", BusFrameMessage).forward_messages == (BusFrameMessage,)
    with pytest.raises(TypeError, match="BusMessage classes"):
        ClientRules("w", "v", (dict,))


# --- decoding ----------------------------------------------------------------------------


def test_frames_decode_from_bytes_and_text():
    serializer = JSONMessageSerializer()
    data = serializer.serialize(request("voice", "worker"))
    assert decode_frame(serializer, data).target == "worker"
    assert decode_frame(serializer, data.decode()).target == "worker"
    for bad in (b"\xff\xfe", "not json", '{"__type__":"os.system","__data__":"x"}', "\ud800"):
        with pytest.raises(MessageDecodeError):
            decode_frame(serializer, bad)


# --- reconnect policy --------------------------------------------------------------------


def test_reconnect_coerces_and_validates():
    assert Reconnect.coerce(None) is None
    assert Reconnect.coerce(False) is None
    assert Reconnect.coerce(True) == Reconnect()
    policy = Reconnect(initial_delay=0.1, max_delay=1, max_attempts=2)
    assert Reconnect.coerce(policy) is policy
    with pytest.raises(TypeError):
        Reconnect.coerce("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Reconnect(initial_delay=0)


@pytest.mark.parametrize(
    ("connected", "code", "status", "retry"),
    [
        (True, 1006, None, True),  # lost
        (True, 1001, None, True),  # server going away (restart)
        (True, 1011, None, True),  # server error
        (True, 1000, None, False),  # the server ended it on purpose
        (True, 1008, None, False),  # policy violation: would happen again
        (False, None, None, True),  # refused, unreachable, timed out
        (False, None, 503, True),  # server busy
        (False, None, 401, False),  # wrong token
        (False, None, 403, False),  # origin not allowed
    ],
)
def test_reconnect_retries_only_what_may_succeed(connected, code, status, retry):
    assert Reconnect.retry_after(connected=connected, close_code=code, http_status=status) is retry


def test_reconnect_gives_up_after_max_attempts():
    assert not Reconnect().gives_up(10_000)
    policy = Reconnect(max_attempts=2)
    assert [policy.gives_up(n) for n in range(4)] == [False, False, True, True]


def test_backoff_doubles_up_to_the_cap_with_jitter():
    delays = list(itertools.islice(reconnect_delays(0.5, 4.0, rng=random.Random(7)), 6))
    for delay, nominal in zip(delays, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert 0.75 * nominal <= delay <= nominal


# --- handshake checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, {"https://app.example.com"}, True),  # non-browser client: no Origin header
        ("https://app.example.com", None, True),  # no allowlist
        ("https://APP.example.com/", {"https://app.example.com"}, True),
        ("https://evil.example.com", {"https://app.example.com"}, False),
        ("https://evil.example.com", {"*"}, True),
        ("http://app.example.com", {"https://app.example.com"}, False),  # scheme counts
    ],
)
def test_origin_allowlist(origin, allowed, ok):
    assert origin_allowed(origin, allowed) is ok


async def test_check_handshake_with_token_and_origin():
    def authorize(headers):
        return headers.get("authorization") == "Bearer good"

    good = {"authorization": "Bearer good"}
    assert await check_handshake(good, authorize=authorize) is None
    refusal = await check_handshake({"authorization": "Bearer bad"}, authorize=authorize)
    assert refusal == HandshakeRefusal(401, "unauthorized")
    refusal = await check_handshake(
        {**good, "origin": "https://evil.example.com"},
        authorize=authorize,
        allowed_origins=["https://app.example.com"],
    )
    assert refusal is not None and refusal.status == 403 and "evil" in refusal.reason


async def test_check_handshake_async_authorize_and_one_that_raises(caplog):
    async def authorize(headers):
        return headers.get("x-token") == "t"

    assert await check_handshake({"x-token": "t"}, authorize=authorize) is None

    def broken(headers):
        raise KeyError("boom")

    refusal = await check_handshake({}, authorize=broken)
    assert refusal is not None and refusal.status == 403
    assert "authorize callable failed" in caplog.text

    def truthy(headers):
        return "yes"  # only True lets a client in

    refusal = await check_handshake({}, authorize=truthy)
    assert refusal is not None and refusal.status == 401
