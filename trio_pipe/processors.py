"""Frame processors.

This module starts with :class:`FrameDirection`, which bus messages need; the
processor runtime lives below it.
"""

from __future__ import annotations

import enum

__all__ = ["FrameDirection"]


class FrameDirection(enum.Enum):
    """Which way a frame travels through a pipeline."""

    DOWNSTREAM = 1
    UPSTREAM = 2
