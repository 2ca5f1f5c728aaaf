"""When the bot is speaking, judged from the audio the output actually plays. Pure.

The output transport asks :class:`BotSpeech` what to announce as it writes chunks:

* the first chunk written after a quiet spell starts speech (``BotStartedSpeakingFrame``);
* while speech goes on, ``BotSpeakingFrame`` at most every ``speaking_period`` seconds;
* speech stops (``BotStoppedSpeakingFrame``) on a ``TTSStoppedFrame`` reaching the audio
  loop, on an interruption that left no audio queued, at the end of the stream, or when
  nothing was played for ``stop_secs`` after the last chunk's playback ended.

Pipecat 1.14 decides this when a frame leaves its audio queue, before it is written;
here a chunk counts once the write succeeded, at its paced time, so the events follow
what the peer hears. Times are the caller's clock (``trio.current_time()``).
"""

from __future__ import annotations

from trio_pipe.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
)

__all__ = ["BOT_VAD_STOP_SECS", "BotSpeech"]

#: Silence after the last chunk's playback that ends the bot's speech (Pipecat's value).
BOT_VAD_STOP_SECS = 0.35


class BotSpeech:
    """The bot's speaking state; each method returns the frame classes to broadcast."""

    __slots__ = ("_last_chunk", "_last_speaking", "speaking", "speaking_period", "stop_secs")

    def __init__(self, *, stop_secs: float = BOT_VAD_STOP_SECS, speaking_period: float = 0.2):
        self.stop_secs = stop_secs
        self.speaking_period = speaking_period
        self.speaking = False
        self._last_speaking = float("-inf")
        self._last_chunk = float("-inf")

    def chunk_played(self, now: float) -> list[type[Frame]]:
        """A chunk was written at ``now``."""
        out: list[type[Frame]] = []
        self._last_chunk = now
        if not self.speaking:
            self.speaking = True
            out.append(BotStartedSpeakingFrame)
        # The tolerance keeps float noise in paced times from skipping a period.
        if now - self._last_speaking >= self.speaking_period - 1e-6:
            self._last_speaking = now
            out.append(BotSpeakingFrame)
        return out

    def stop(self) -> list[type[Frame]]:
        """Speech ended (end of a reply, interruption, end of the stream)."""
        if not self.speaking:
            return []
        self.speaking = False
        self._last_speaking = float("-inf")
        return [BotStoppedSpeakingFrame]

    def quiet_deadline(self, playback_end: float) -> float | None:
        """When an empty queue ends speech (None: not speaking, nothing to wait for).

        ``playback_end`` is when the last chunk has played out (the pacing schedule); an
        output that does not pace is judged from the last write instead.
        """
        if not self.speaking:
            return None
        return max(playback_end, self._last_chunk) + self.stop_secs
