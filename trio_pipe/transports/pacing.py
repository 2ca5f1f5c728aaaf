"""The output pacing schedule: when may the next audio write leave? Pure, no I/O.

A network transport would otherwise send a whole TTS reply at once; a sound card takes
audio at playback speed. :class:`Pacer` emulates that. After every successful write the
output asks :meth:`Pacer.after_write` until when to sleep:

* on schedule (``next_send`` is in the future): sleep until ``next_send``, then move it
  one interval on: writes stay on an absolute grid, so sleep overshoot never drifts;
* the first write, after an idle gap (the audio queue ran empty and the write is later
  than the catch-up window, ``(max_catch_up + 1)`` intervals past its place) or after
  :meth:`Pacer.reset`: no sleep and the clock restarts at ``now + interval`` (Pipecat's
  rule): the first two chunks of a burst leave back to back, with no catch-up burst. A
  shorter gap is treated as lateness (below): for live audio it is arrival jitter;
* late while audio was waiting (the loop was held up under load): keep the schedule, so
  a short stall does not become permanent extra latency as it does in Pipecat, but never
  fall more than ``max_catch_up`` intervals behind: at most that many chunks go out back
  to back beyond the normal pair, and lateness beyond that is forgiven.

``interval = chunk_bytes / (sample_rate * channels * 2)``, the chunk's real duration (Pipecat
divides by ``rate * 2`` only, which plays stereo at half speed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

__all__ = ["Pacer", "send_interval"]


def send_interval(chunk_bytes: int, sample_rate: int, num_channels: int) -> float:
    """Seconds of audio in ``chunk_bytes`` of PCM16 at ``sample_rate`` x ``num_channels``."""
    return chunk_bytes / (sample_rate * num_channels * 2)


class Pacer:
    """The schedule of one output stream (times are Trio clock seconds).

    Args:
        interval: seconds between writes once paced (one chunk's duration).
        max_catch_up: how many intervals a late, busy stream may lag and still catch up.
    """

    __slots__ = ("_next_send", "interval", "max_catch_up")

    #: Called with (write finished at, its slot) for each paced write when set
    #: (trio_pipe.metrics' pacing histograms); None costs one test per write.
    observer: ClassVar[Callable[[float, float], None] | None] = None

    def __init__(self, interval: float, *, max_catch_up: int = 2) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        if max_catch_up < 0:
            raise ValueError(f"max_catch_up must be >= 0, got {max_catch_up}")
        self.interval = interval
        self.max_catch_up = max_catch_up
        self._next_send: float | None = None

    @property
    def next_send(self) -> float | None:
        """When the write after the next one may leave; None before the first write."""
        return self._next_send

    def reset(self) -> None:
        """Forget the schedule: the next write leaves at once (after an interruption)."""
        self._next_send = None

    def after_write(self, now: float, *, backlog: bool) -> float:
        """Record a write that finished at ``now``; return the time to sleep until.

        ``backlog`` is True when the written chunk was already queued when the loop went
        for it (no idle gap before it). A result ``<= now`` means: do not sleep.
        """
        next_send = self._next_send
        interval = self.interval
        observer = Pacer.observer
        if observer is not None and next_send is not None:
            observer(now, next_send - interval)
        if next_send is not None and next_send > now:
            self._next_send = next_send + interval
            return next_send
        if next_send is None or (
            not backlog and now - next_send >= (self.max_catch_up + 1) * interval
        ):
            self._next_send = now + interval
            return now
        # Late, with audio waiting or with a queue that ran empty for less than the
        # catch-up window: keep the grid. A live stream (an echo, audio relayed from a
        # peer) empties the queue before every chunk, so restarting on each late chunk
        # would push the grid later at every hiccup and hold every later chunk back by
        # it: latency that only ever grows (Pipecat's lag past 1 s under load).
        # Late with audio waiting: stay on the grid, within the catch-up bound.
        floor = now + interval - self.max_catch_up * interval
        self._next_send = max(next_send + interval, floor)
        return now
