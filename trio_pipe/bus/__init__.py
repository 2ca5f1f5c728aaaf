"""The worker bus: pub/sub between workers and runners, with Pipecat's names.

``from trio_pipe.bus import LocalBus, BusSubscriber, BusJobRequestMessage, ...`` works as
``from pipecat.bus import ...`` does in Pipecat 1.14 (every name ``pipecat.bus`` exports,
plus :class:`LocalBus`, the in-process bus ``AsyncQueueBus`` is an alias of).
The network bus is :class:`trio_pipe.bus.redis.RedisBus` (imported from its module,
as in Pipecat, so the Redis client is loaded only by those who use it).
``BusBridgeProcessor`` is a pipeline stage of a worker and lives in
:mod:`trio_pipe.workers.bridge_processor`; it is resolved from here lazily, so importing
the bus never imports the workers.
"""

from typing import Any

from trio_pipe.bus.bus import AsyncQueueBus, BusSubscriber, LocalBus, WorkerBus
from trio_pipe.bus.messages import (
    BusActivateWorkerMessage,
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDataMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusFlushProgressMessage,
    BusFrameMessage,
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
    BusLocalMessage,
    BusMessage,
    BusSystemMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    WorkerRegistryEntry,
)

__all__ = [
    "AsyncQueueBus",
    "BusActivateWorkerMessage",
    "BusAddWorkerMessage",
    "BusBridgeProcessor",
    "BusCancelMessage",
    "BusCancelWorkerMessage",
    "BusDataMessage",
    "BusDeactivateWorkerMessage",
    "BusEndMessage",
    "BusEndWorkerMessage",
    "BusFlushProgressMessage",
    "BusFrameMessage",
    "BusJobCancelMessage",
    "BusJobRequestMessage",
    "BusJobResponseMessage",
    "BusJobResponseUrgentMessage",
    "BusJobStreamDataMessage",
    "BusJobStreamEndMessage",
    "BusJobStreamStartMessage",
    "BusJobUpdateMessage",
    "BusJobUpdateRequestMessage",
    "BusJobUpdateUrgentMessage",
    "BusLocalMessage",
    "BusMessage",
    "BusSubscriber",
    "BusSystemMessage",
    "BusTTSSpeakMessage",
    "BusWorkerErrorMessage",
    "BusWorkerLocalErrorMessage",
    "BusWorkerReadyMessage",
    "BusWorkerRegistryMessage",
    "LocalBus",
    "WorkerBus",
    "WorkerRegistryEntry",
]


def __getattr__(name: str) -> Any:
    if name == "BusBridgeProcessor":
        # A re-export for Pipecat's spelling, run only when the name is asked for.
        from trio_pipe.workers.bridge_processor import BusBridgeProcessor

        return BusBridgeProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
