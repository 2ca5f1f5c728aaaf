"""Transport base classes: a transport is an input and an output processor around one peer.

The pieces live in modules of their own and are re-exported here, under Pipecat's names:

* :class:`TransportParams` (``params``): settings, attrs, keyword-only;
* :class:`BaseInputTransport` (``input``): received messages into the pipeline;
* :class:`BaseOutputTransport` and :class:`TransportWriter` (``output``): frames out,
  audio chunked and paced (``pacing``, ``chunks``).

:class:`BaseTransport` holds the two halves and the transport's events.
"""

from __future__ import annotations

from trio_pipe.events import EventHandlerMixin
from trio_pipe.ids import next_name
from trio_pipe.processors import FrameProcessor
from trio_pipe.transports.input import BaseInputTransport
from trio_pipe.transports.output import BaseOutputTransport, TransportWriter
from trio_pipe.transports.params import (
    UNSUPPORTED_TRANSPORT_PARAMS,
    TransportParams,
    transport_params,
)

__all__ = [
    "UNSUPPORTED_TRANSPORT_PARAMS",
    "BaseInputTransport",
    "BaseOutputTransport",
    "BaseTransport",
    "TransportParams",
    "TransportWriter",
    "transport_params",
]


class BaseTransport(EventHandlerMixin):
    """A transport: ``input()`` and ``output()`` return its two processors.

    Event handlers registered on the transport run as children of one half's nursery
    (see :meth:`_bind_events`), so they never outlive the pipeline task that runs it.

    Args:
        name: the transport's name (default ``"<ClassName>#<k>"``).
        input_name, output_name: names for the two processors.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        super().__init__()  # the event handler tables (EventHandlerMixin)
        self._name = name or next_name(type(self))
        self._input_name = input_name
        self._output_name = output_name

    @property
    def name(self) -> str:
        """The transport's name."""
        return self._name

    def __str__(self) -> str:
        return self._name

    def input(self) -> FrameProcessor:
        """The processor that brings the peer's frames into the pipeline."""
        raise NotImplementedError

    def output(self) -> FrameProcessor:
        """The processor that sends the pipeline's frames to the peer."""
        raise NotImplementedError

    def _bind_events(self, processor: FrameProcessor) -> None:
        """Run this transport's event handlers in ``processor``'s nursery.

        Handlers fired before that processor runs wait for it; those fired after it has
        finished are dropped (nothing outlives the pipeline task).
        """
        self._children = processor._children
