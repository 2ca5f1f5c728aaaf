"""Transports: the edges of a pipeline that talk to a peer (see ``transports.base``)."""

from trio_pipe.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    BaseTransport,
    TransportParams,
    TransportWriter,
)

__all__ = [
    "BaseInputTransport",
    "BaseOutputTransport",
    "BaseTransport",
    "TransportParams",
    "TransportWriter",
]
