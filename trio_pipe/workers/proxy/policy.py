"""What a proxy lets its peer put on the local bus: the trust boundary, as pure rules.

A proxy connection is a door into a runner's bus. Whoever is on the other side may be
another team's host, or anyone who got hold of a token, so what crosses is decided here,
by type, and not by what the peer says about itself.

Admitted by default (:class:`ProxyPolicy`'s defaults) — what the job protocol needs:

* job requests, job cancels, job update requests;
* the replies a requester expects: job responses, updates, stream start/data/end;
* plain data messages (``BusDataMessage`` subclasses that do not steer a worker, such
  as ``BusTTSSpeakMessage``, ``BusFrameMessage``, an application's own data messages),
  except a frame message whose frame ends or cancels a pipeline (``EndFrame``,
  ``CancelFrame``, worker frames).

Refused by default:

* lifecycle messages (:data:`CONTROL_MESSAGES`: end/cancel the session, end, cancel,
  activate or deactivate a worker, ready and error announcements): a peer could end the
  host or stop a worker that other sessions share;
* registry snapshots (``BusWorkerRegistryMessage``) on the server side: they make the
  host's runner file workers (memory that outlives the connection) and answer with its
  own snapshot;
* any other system message (high priority: it overtakes queued data);
* local messages (they never cross a process).

The proxies add name checks on top (``workers.proxy.rules``): the source must be the
connection's remote worker and the target the served worker.

Widening is per connection: ``ProxyPolicy(allow=(BusEndMessage,))`` admits end messages
from that connection only; ``ProxyPolicy(registry=RegistryLimits())`` admits registry
snapshots within limits; :meth:`ProxyPolicy.trusting` admits everything Pipecat 1.14's
proxies admit (still with bounded registry snapshots).
"""

from __future__ import annotations

import enum

import attrs

from trio_pipe.bus import messages as m
from trio_pipe.frames import CancelFrame, EndFrame, WorkerFrame, WorkerSystemFrame

__all__ = [
    "CONTROL_FRAMES",
    "CONTROL_MESSAGES",
    "JOB_MESSAGES",
    "ProxyPolicy",
    "Refusal",
    "RegistryBudget",
    "RegistryLimits",
    "message_types",
]

CONTROL_MESSAGES: tuple[type[m.BusMessage], ...] = (
    m.BusEndMessage,
    m.BusCancelMessage,
    m.BusEndWorkerMessage,
    m.BusCancelWorkerMessage,
    m.BusActivateWorkerMessage,
    m.BusDeactivateWorkerMessage,
    m.BusWorkerReadyMessage,
    m.BusWorkerErrorMessage,
)
"""Messages that steer a runner or a worker's lifecycle: refused unless allowed."""

JOB_MESSAGES: tuple[type[m.BusMessage], ...] = (
    m.BusJobRequestMessage,
    m.BusJobCancelMessage,
    m.BusJobUpdateRequestMessage,
    m.BusJobResponseMessage,
    m.BusJobResponseUrgentMessage,
    m.BusJobUpdateMessage,
    m.BusJobUpdateUrgentMessage,
    m.BusJobStreamStartMessage,
    m.BusJobStreamDataMessage,
    m.BusJobStreamEndMessage,
)
"""The job protocol, both directions: always admitted (subject to the name checks)."""

CONTROL_FRAMES: tuple[type, ...] = (EndFrame, CancelFrame, WorkerFrame, WorkerSystemFrame)
"""Frames that end, cancel or steer a pipeline: refused inside a ``BusFrameMessage``."""


class Refusal(enum.StrEnum):
    """Why a message from the peer was not put on the bus (``ProxyStats.refusals`` keys)."""

    LOCAL = "local message"
    CONTROL = "lifecycle message"
    CONTROL_FRAME = "pipeline control frame"
    SYSTEM = "system message"
    REGISTRY = "registry snapshot"
    REGISTRY_LIMIT = "registry over limits"
    SOURCE = "source is not the peer"
    TARGET = "unexpected target"


@attrs.frozen
class RegistryLimits:
    """How much registry a peer may announce over one connection.

    Args:
        max_messages: snapshots admitted per connection; later ones are refused.
        max_workers: entries one snapshot may hold; a larger one is refused whole.
    """

    max_messages: int = attrs.field(default=8, validator=attrs.validators.ge(0))
    max_workers: int = attrs.field(default=32, validator=attrs.validators.ge(0))


class RegistryBudget:
    """One connection's registry allowance: counts snapshots, remembers their runners
    (so the proxy can forget them when the connection ends). Pure bookkeeping."""

    def __init__(self, limits: RegistryLimits) -> None:
        self.limits = limits
        self.admitted = 0
        self.runners: set[str] = set()

    def take(self, message: m.BusWorkerRegistryMessage) -> Refusal | None:
        """Admit ``message`` if within the limits (and count it), else the refusal."""
        limits = self.limits
        if self.admitted >= limits.max_messages or len(message.workers) > limits.max_workers:
            return Refusal.REGISTRY_LIMIT
        self.admitted += 1
        self.runners.add(message.runner)
        return None


def message_types(value: object) -> tuple[type[m.BusMessage], ...]:
    """A tuple of BusMessage classes from one class or an iterable of them (TypeError else)."""
    if isinstance(value, type):
        value = (value,)
    types = tuple(value)  # type: ignore[arg-type]
    for cls in types:
        if not (isinstance(cls, type) and issubclass(cls, m.BusMessage)):
            raise TypeError(f"expected BusMessage classes, not {cls!r}")
    return types


@attrs.frozen
class ProxyPolicy:
    """Which message types a proxy admits from its peer (see the module doc).

    Args:
        allow: extra types admitted although refused by default (for example
            ``(BusEndMessage,)`` to let this connection end the session). ``BusMessage``
            admits every type.
        registry: admit registry snapshots within these limits (server side; None:
            refused). The client side always admits the remote worker's own entry.
        control_frames: admit frame messages carrying ``EndFrame``, ``CancelFrame`` or
            worker frames.
    """

    allow: tuple[type[m.BusMessage], ...] = attrs.field(default=(), converter=message_types)
    registry: RegistryLimits | None = None
    control_frames: bool = False

    @classmethod
    def trusting(cls) -> ProxyPolicy:
        """Pipecat 1.14's reach: every type crosses (registry snapshots still bounded)."""
        return cls(allow=(m.BusMessage,), registry=RegistryLimits(), control_frames=True)

    def type_refusal(self, cls: type) -> Refusal | None:
        """The refusal every message of class ``cls`` gets whatever its content, or None.

        Lets a proxy refuse a message from its type tag alone, before building it (a
        flood of huge registry snapshots then costs a JSON parse, not millions of objects).
        """
        if issubclass(cls, m.BusLocalMessage):
            return Refusal.LOCAL
        if issubclass(cls, m.BusWorkerRegistryMessage):
            return None if self.registry is not None else Refusal.REGISTRY
        if issubclass(cls, JOB_MESSAGES) or (self.allow and issubclass(cls, self.allow)):
            return None
        if issubclass(cls, CONTROL_MESSAGES):
            return Refusal.CONTROL
        return None if issubclass(cls, m.BusDataMessage) else Refusal.SYSTEM

    def refusal(self, message: m.BusMessage) -> Refusal | None:
        """None if the type of ``message`` may cross, else why not. Names are not checked
        here (see ``workers.proxy.rules``); registry limits are the budget's."""
        if isinstance(message, m.BusLocalMessage):
            return Refusal.LOCAL
        if isinstance(message, m.BusWorkerRegistryMessage):
            return None if self.registry is not None else Refusal.REGISTRY
        if isinstance(message, JOB_MESSAGES):
            return None
        allowed = bool(self.allow) and isinstance(message, self.allow)
        if isinstance(message, CONTROL_MESSAGES):
            return None if allowed else Refusal.CONTROL
        if isinstance(message, m.BusFrameMessage) and isinstance(message.frame, CONTROL_FRAMES):
            return None if allowed or self.control_frames else Refusal.CONTROL_FRAME
        if isinstance(message, m.BusDataMessage) or allowed:
            return None
        return Refusal.SYSTEM
