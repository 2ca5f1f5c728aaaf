"""The trust boundary as pure rules, without sockets: which types cross (ProxyPolicy),
the name checks and the server's per-connection bus name (ServerRules/ClientRules),
registry budgets, and the registry's constant-time lookups and forgetting."""

from __future__ import annotations

import pytest

from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobUpdateMessage,
    BusSystemMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    JobStatus,
    WorkerReadyData,
    WorkerRegistryEntry,
)
from trio_pipe.frames import CancelFrame, EndFrame, EndWorkerFrame, TextFrame
from trio_pipe.processors import FrameDirection
from trio_pipe.registry import WorkerRegistry
from trio_pipe.serializers import JSONMessageSerializer
from trio_pipe.workers.proxy import ClientRules, ProxyPolicy, Refusal, RegistryLimits, ServerRules
from trio_pipe.workers.proxy.link import tag_refuser
from trio_pipe.workers.proxy.rules import peer_bus_name

SRC, DST = "voice", "worker"

LIFECYCLE = [
    BusEndMessage(source=SRC, target=DST),
    BusCancelMessage(source=SRC, target=DST),
    BusEndWorkerMessage(source=SRC, target=DST),
    BusCancelWorkerMessage(source=SRC, target=DST),
    BusActivateWorkerMessage(source=SRC, target=DST),
    BusDeactivateWorkerMessage(source=SRC, target=DST),
    BusWorkerReadyMessage(runner="r", source=SRC, target=DST),
    BusWorkerErrorMessage(error="x", source=SRC, target=DST),
]

JOBS = [
    BusJobRequestMessage(job_id="j", source=SRC, target=DST),
    BusJobCancelMessage(job_id="j", source=SRC, target=DST),
    BusJobResponseMessage(job_id="j", status=JobStatus.COMPLETED, source=SRC, target=DST),
    BusJobUpdateMessage(job_id="j", source=SRC, target=DST),
    BusJobStreamDataMessage(job_id="j", source=SRC, target=DST),
]


def frame(content, source: str = SRC, target: str | None = DST) -> BusFrameMessage:
    return BusFrameMessage(
        frame=content, direction=FrameDirection.DOWNSTREAM, source=source, target=target
    )


def snapshot(runner: str = "r", n: int = 1, name: str = "fake") -> BusWorkerRegistryMessage:
    workers = [WorkerRegistryEntry(f"{name}-{i}" if n > 1 else name) for i in range(n)]
    return BusWorkerRegistryMessage(runner=runner, workers=workers, source=runner)


class Custom(BusSystemMessage):
    pass


# --- ProxyPolicy: types ------------------------------------------------------------------


@pytest.mark.parametrize("message", JOBS, ids=lambda m: type(m).__name__)
def test_the_job_protocol_crosses_by_default(message):
    assert ProxyPolicy().refusal(message) is None


@pytest.mark.parametrize("message", LIFECYCLE, ids=lambda m: type(m).__name__)
def test_lifecycle_messages_are_refused_unless_allowed(message):
    assert ProxyPolicy().refusal(message) == Refusal.CONTROL
    assert ProxyPolicy(allow=type(message)).refusal(message) is None
    assert ProxyPolicy.trusting().refusal(message) is None


def test_plain_data_crosses_but_not_frames_that_end_a_pipeline():
    policy = ProxyPolicy()
    assert policy.refusal(BusTTSSpeakMessage(text="hi", source=SRC, target=DST)) is None
    assert policy.refusal(frame(TextFrame(text="hi"))) is None
    for content in (EndFrame(), CancelFrame(), EndWorkerFrame()):
        assert policy.refusal(frame(content)) == Refusal.CONTROL_FRAME
        assert ProxyPolicy(control_frames=True).refusal(frame(content)) is None


def test_registry_snapshots_other_system_and_local_messages_are_refused():
    policy = ProxyPolicy()
    assert policy.refusal(snapshot()) == Refusal.REGISTRY
    assert ProxyPolicy(registry=RegistryLimits()).refusal(snapshot()) is None
    assert policy.refusal(Custom(source=SRC, target=DST)) == Refusal.SYSTEM
    assert ProxyPolicy(allow=Custom).refusal(Custom(source=SRC, target=DST)) is None
    local = BusWorkerLocalErrorMessage(error="x", source=SRC, target=DST)
    assert ProxyPolicy.trusting().refusal(local) == Refusal.LOCAL


def test_allow_takes_only_message_classes():
    with pytest.raises(TypeError):
        ProxyPolicy(allow=(dict,))
    with pytest.raises(ValueError):
        RegistryLimits(max_messages=-1)


# --- ServerRules: names and the per-connection bus name -----------------------------------


SERVER = ServerRules(DST, SRC, bus_name=peer_bus_name(SRC, "gateway-1"))


def test_server_renames_what_it_admits_to_the_connections_bus_name():
    message = BusJobRequestMessage(job_id="j", source=SRC, target=DST)
    assert SERVER.admit(message) is None
    assert message.source == "voice@gateway-1"


def test_server_refuses_a_source_that_is_not_its_client():
    for source in ("steady", "voice@gateway-2", "worker"):
        message = BusJobRequestMessage(job_id="j", source=source, target=DST)
        assert SERVER.admit(message) == Refusal.SOURCE
        assert message.source == source  # untouched


def test_server_refuses_other_targets_except_forward_types():
    assert SERVER.admit(BusJobRequestMessage(job_id="j", source=SRC, target="x")) == (
        Refusal.TARGET
    )
    rules = ServerRules(DST, SRC, (BusFrameMessage,))
    assert rules.admit(frame(TextFrame(text="x"), target="pipeline")) is None


def test_server_sends_replies_to_its_own_client_under_its_wire_name():
    reply = BusJobResponseMessage(
        job_id="j", status=JobStatus.COMPLETED, source=DST, target="voice@gateway-1"
    )
    assert SERVER.outbound(reply)
    wire = SERVER.to_wire(reply)
    assert wire.target == SRC and reply.target == "voice@gateway-1"  # a copy
    assert (wire.id, wire.name, wire.job_id) == (reply.id, reply.name, reply.job_id)
    other = BusJobResponseMessage(
        job_id="k", status=JobStatus.COMPLETED, source=DST, target="voice@gateway-2"
    )
    assert not SERVER.outbound(other)
    bare = BusJobResponseMessage(job_id="k", status=JobStatus.COMPLETED, source=DST, target=SRC)
    assert not SERVER.outbound(bare)  # ambiguous: several clients may be called "voice"


def test_server_forward_types_skip_other_connections():
    rules = ServerRules(DST, SRC, (BusFrameMessage,), bus_name="voice@gateway-1")
    assert rules.outbound(frame(TextFrame(text="x"), source=DST, target=None))
    assert rules.outbound(frame(TextFrame(text="x"), source=DST, target="pipeline"))
    assert not rules.outbound(frame(TextFrame(text="x"), source=DST, target="voice@gateway-2"))


def test_server_registry_budget_bounds_count_and_size_and_remembers_runners():
    rules = ServerRules(DST, SRC, policy=ProxyPolicy(registry=RegistryLimits(2, 3)))
    budget = rules.new_budget()
    assert budget is not None
    assert rules.admit(snapshot("r1", 3), budget) is None
    assert rules.admit(snapshot("r2", 4), budget) == Refusal.REGISTRY_LIMIT  # too big
    assert rules.admit(snapshot("r3", 1), budget) is None
    assert rules.admit(snapshot("r4", 1), budget) == Refusal.REGISTRY_LIMIT  # too many
    assert budget.runners == {"r1@voice", "r3@voice"}  # filed under this connection
    assert SERVER.new_budget() is None and SERVER.admit(snapshot()) == Refusal.REGISTRY


# --- ClientRules: the same boundary on the client side -------------------------------------


CLIENT = ClientRules(DST, SRC)


@pytest.mark.parametrize("message", LIFECYCLE, ids=lambda m: type(m).__name__)
def test_client_refuses_lifecycle_messages_from_the_host(message):
    message.source, message.target = DST, SRC
    assert CLIENT.admit(message) == Refusal.CONTROL
    assert ClientRules(DST, SRC, policy=ProxyPolicy.trusting()).admit(message) is None


def test_client_checks_the_source_and_keeps_only_the_remote_workers_registry_entry():
    reply = BusJobResponseMessage(job_id="j", status=JobStatus.COMPLETED, source="x", target=SRC)
    assert CLIENT.admit(reply) == Refusal.SOURCE
    budget = CLIENT.new_budget()
    message = BusWorkerRegistryMessage(
        runner="host",
        workers=[WorkerRegistryEntry("other"), WorkerRegistryEntry(DST)],
        source="gateway-1",
    )
    assert CLIENT.admit(message, budget) is None
    assert message.workers == [WorkerRegistryEntry(DST)]
    assert CLIENT.admit(snapshot("host", name="other"), budget) == Refusal.REGISTRY
    for _ in range(7):
        assert CLIENT.admit(snapshot("host", name=DST), budget) is None
    assert CLIENT.admit(snapshot("host", name=DST), budget) == Refusal.REGISTRY_LIMIT


# --- the registry: constant-time lookups, forgetting a runner ------------------------------


async def test_registry_lookups_index_remote_names_and_forget_a_runner():
    registry = WorkerRegistry("here")
    for i in range(1000):
        assert await registry.register(WorkerReadyData(f"w{i}", f"runner-{i}"))
    await registry.register(WorkerReadyData("w1", "runner-x"))  # same name elsewhere
    assert registry.get("w1") == WorkerReadyData("w1", "runner-1")
    assert registry.forget_runner("runner-1") == 1
    assert registry.get("w1") == WorkerReadyData("w1", "runner-x")  # the other filing
    for i in range(1000):
        registry.forget_runner(f"runner-{i}")
    registry.forget_runner("runner-x")
    assert registry.remote_workers == [] and "w1" not in registry
    assert registry._remote_index == {} and registry._remote == {}
    assert registry.forget_runner("unknown") == 0


# --- refusing by type tag, before decoding -----------------------------------------------


def test_refused_types_are_known_from_their_tag_alone():
    json = JSONMessageSerializer()
    refuse = tag_refuser(json, SERVER.type_refusal)
    assert refuse is not None
    assert refuse(json.serialize(snapshot(n=50))) == Refusal.REGISTRY
    assert refuse(json.serialize(BusEndMessage(source=SRC, target=DST))) == Refusal.CONTROL
    unknown = b'{"__type__":"app.Custom","__data__":{"source":"voice"}}'
    assert refuse(unknown) is None  # an unknown tag: the decoder reports it
    assert refuse(json.serialize(JOBS[0]).decode()) is None  # a text frame
    for fine in (*JOBS, BusTTSSpeakMessage(text="x", source=SRC, target=DST)):
        assert refuse(json.serialize(fine)) is None
    # Frames depend on their content: left to the full check.
    assert refuse(json.serialize(frame(EndFrame()))) is None
    for garbage in (b"\xff", b"[1]", b'{"__type__": 3}', b"{}", "x" * (json.max_size + 1)):
        assert refuse(garbage) is None  # the decoder reports these
    client = tag_refuser(json, CLIENT.type_refusal)
    assert client is not None and client(json.serialize(snapshot())) is None  # trimmed later
    assert tag_refuser(object(), SERVER.type_refusal) is None  # another serializer: no peek


def test_type_refusal_matches_refusal_for_every_type_without_content_rules():
    for policy in (ProxyPolicy(), ProxyPolicy.trusting(), ProxyPolicy(allow=BusEndMessage)):
        for message in (*LIFECYCLE, *JOBS, snapshot(), Custom(source=SRC, target=DST)):
            assert policy.type_refusal(type(message)) == policy.refusal(message)


def test_the_tag_is_read_from_the_head_or_else_found_by_a_parse():
    json = JSONMessageSerializer()
    refuse = tag_refuser(json, SERVER.type_refusal)
    assert refuse is not None
    end = json.serialize(BusEndMessage(source=SRC, target=DST))
    tag = b'"pipecat.bus.messages.BusEndMessage"'
    assert tag in end
    # Pipecat's layout (``json.dumps``: a space after each colon and comma).
    spaced = end.replace(b'":', b'": ').replace(b",", b", ")
    assert refuse(spaced) == Refusal.CONTROL
    # The tag last, or written with an escape: found by the parse.
    data = end[end.index(b'"__data__"') : -1]
    assert refuse(b"{" + data + b',"__type__":' + tag + b"}") == Refusal.CONTROL
    escaped = end.replace(b"pipecat.bus", b"pipecat\\u002ebus")
    assert refuse(escaped) == Refusal.CONTROL
    # A refused tag in the head is refused whatever follows it.
    assert refuse(end[: end.index(b"__data__")] + b"garbage") == Refusal.CONTROL
    # A head cut short, an unknown tag, or non-ASCII in it: the decoder's to report.
    for unjudged in (b'{"__type__":"pipecat.bus', b'{"__type__":"\xff"}', b'{"__type__":""}'):
        assert refuse(unjudged) is None
    # A repeated key cannot smuggle a refused type past the head: the decoded type is
    # what the admission rule checks.
    fine = json.serialize(BusTTSSpeakMessage(text="x", source=SRC, target=DST))
    smuggled = fine[:-1] + b',"__type__":' + tag + b"}"
    assert refuse(smuggled) is None
    assert SERVER.admit(json.deserialize(smuggled)) == Refusal.CONTROL
