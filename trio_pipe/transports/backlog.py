"""AudioBacklog: the bound on audio queued for playback in an output transport.

The output's queue holds what the pipeline produced ahead of playback: a TTS reply
arrives faster than it plays, and that is how it plays out. But a producer that stays
faster than real time (a client streaming audio at 100x into an echo) would grow it
without end. Past ``limit`` chunks the oldest queued audio chunk is dropped (other frames
keep their place and order), counted, and logged rate-limited: live audio keeps the
newest, memory stays bounded. Pure bookkeeping over the caller's deque.
"""

from __future__ import annotations

import logging
from collections import deque

from trio_pipe.frames import Frame, OutputAudioRawFrame
from trio_pipe.ratelimit import loud

__all__ = ["AudioBacklog"]

logger = logging.getLogger(__name__)


class AudioBacklog:
    """Counts the audio chunks in an output queue and drops the oldest past ``limit``.

    Args:
        limit: most chunks queued at once (None: unbounded).
        owner: named in the log.
    """

    def __init__(self, limit: int | None, owner: object = "output") -> None:
        self.limit = limit
        self.owner = owner
        self.queued = 0
        """Audio chunks in the queue now."""
        self.dropped = 0
        """Audio chunks dropped so far."""

    def added(self, queue: deque[Frame]) -> None:
        """An audio chunk was appended to ``queue``; drop the oldest one if over the limit."""
        self.queued += 1
        if self.limit is None or self.queued <= self.limit:
            return
        if isinstance(queue[0], OutputAudioRawFrame):
            queue.popleft()
        else:  # a message or marker first: the first chunk behind it goes
            for i, frame in enumerate(queue):
                if isinstance(frame, OutputAudioRawFrame):
                    del queue[i]
                    break
        self.queued -= 1
        self.dropped += 1
        if loud(self.dropped, first=1):
            logger.warning(
                "%s: audio arrives faster than it plays; dropped the oldest queued chunk "
                "(%d so far, bound %d chunks)",
                self.owner,
                self.dropped,
                self.limit,
            )

    def taken(self, frame: Frame) -> None:
        """``frame`` left the queue for playback."""
        if isinstance(frame, OutputAudioRawFrame):
            self.queued -= 1

    def recount(self, queue: deque[Frame]) -> None:
        """The queue was rebuilt (an interruption) or cleared."""
        self.queued = sum(isinstance(f, OutputAudioRawFrame) for f in queue)
