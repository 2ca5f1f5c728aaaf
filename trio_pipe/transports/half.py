"""What both halves of a transport share: their own copy of the params and a serializer."""

from __future__ import annotations

from typing import Any

import attrs

from trio_pipe.processors import FrameProcessor
from trio_pipe.transports.params import TransportParams

__all__ = ["TransportHalf"]


class TransportHalf(FrameProcessor):
    """Base of :class:`BaseInputTransport` and :class:`BaseOutputTransport`.

    Keeps an ``attrs.evolve``d copy of ``params`` (the caller's object is never changed)
    and the serializer: the one given, else ``params.serializer`` when the params have one.
    """

    def __init__(
        self, params: TransportParams, *, serializer: Any | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self._params = attrs.evolve(params)
        if serializer is None:
            serializer = getattr(params, "serializer", None)
        self._serializer = serializer

    @property
    def params(self) -> TransportParams:
        """This transport's own copy of its params."""
        return self._params

    @property
    def serializer(self) -> Any | None:
        """The serializer that encodes or decodes this half's messages, if any."""
        return self._serializer
