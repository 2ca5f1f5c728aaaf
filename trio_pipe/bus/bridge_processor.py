"""Old home (and Pipecat's) of :class:`BusBridgeProcessor`; it lives in
:mod:`trio_pipe.workers.bridge_processor` now.

The names resolve lazily (PEP 562), so importing the bus never imports the workers: the
bus layer sits below them. See docs/migrating-from-pipecat.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LIFECYCLE_FRAMES", "BusBridgeProcessor", "BusEdgeProcessor"]  # noqa: F822 (lazy)


def __getattr__(name: str) -> Any:
    if name in __all__:
        # A re-export for old import paths, run only when such a name is asked for.
        from trio_pipe.workers import bridge_processor

        return getattr(bridge_processor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
