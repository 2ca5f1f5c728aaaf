"""VADProcessor: the pipeline stage that turns input audio into speaking frames.

Put it after the input transport. Every ``InputAudioRawFrame`` is passed on first, then
analysed (down-mixed to mono) by the stage's :class:`~trio_pipe.vad.analyzer.VADAnalyzer`;
on a decision the stage broadcasts (both ways, as Pipecat's ``VADProcessor`` does):

* ``VADUserStartedSpeakingFrame(start_secs=...)`` when speech is confirmed;
* ``UserSpeakingFrame`` at most every ``speech_activity_period`` seconds while it lasts;
* ``VADUserStoppedSpeakingFrame(stop_secs=...)`` when its end is confirmed, or when no
  audio at all came for ``audio_idle_timeout`` seconds during speech (a muted mic).

Resource handling
    Analysis runs inline in the stage's system lane (a 20 ms window costs microseconds
    with the WebRTC backend, see ``benchmarks/vad.py``), so there is no thread. The idle
    watch is a child of the stage's nursery, started at the ``StartFrame`` and cancelled
    at End/Cancel/cleanup. Times are Trio's clock, so tests run it on a mock clock.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import trio

from trio_pipe.audio import to_mono
from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    StartFrame,
    UserSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.vad.analyzer import VADAnalyzer, VADState

__all__ = ["VADProcessor"]

logger = logging.getLogger(__name__)


class VADProcessor(FrameProcessor):
    """Voice activity detection as a pipeline stage (see the module docstring).

    Args:
        vad_analyzer: the analyzer (default: a :class:`~trio_pipe.vad.webrtc.WebRTCVADAnalyzer`).
        speech_activity_period: least time between two ``UserSpeakingFrame``.
        audio_idle_timeout: silence of the stream itself (no frames) that ends speech;
            0 turns it off.
        name: processor name.
    """

    #: Events: ``on_speech_started(processor)``, ``on_speech_stopped(processor)``.
    EVENTS: ClassVar[tuple[str, ...]] = ("on_speech_started", "on_speech_stopped")

    def __init__(
        self,
        *,
        vad_analyzer: VADAnalyzer | None = None,
        speech_activity_period: float = 0.2,
        audio_idle_timeout: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if vad_analyzer is None:
            from trio_pipe.vad.webrtc import WebRTCVADAnalyzer

            vad_analyzer = WebRTCVADAnalyzer()
        self._analyzer = vad_analyzer
        self._activity_period = speech_activity_period
        self._idle_timeout = audio_idle_timeout
        self._speaking = False
        self._last_activity = float("-inf")
        self._last_audio = 0.0
        self._idle_scope: trio.CancelScope | None = None
        for event in self.EVENTS:
            self._register_event_handler(event)

    @property
    def vad_analyzer(self) -> VADAnalyzer:
        """The analyzer this stage feeds."""
        return self._analyzer

    @property
    def speaking(self) -> bool:
        """True between a started and a stopped decision."""
        return self._speaking

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Pass every frame on; analyse input audio; start/stop the idle watch."""
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._handle_audio(frame)
        elif isinstance(frame, StartFrame):
            self._analyzer.set_sample_rate(frame.audio_in_sample_rate)
            self._last_audio = trio.current_time()
            if self._idle_timeout > 0 and self._idle_scope is None:
                self._idle_scope = trio.CancelScope()
                self.start_soon(self._idle_watch, self._idle_scope)
        elif isinstance(frame, EndFrame | CancelFrame):
            self._stop_idle_watch()

    async def cleanup(self) -> None:
        """Stop the idle watch, release the analyzer, then the lanes."""
        self._stop_idle_watch()
        await self._analyzer.cleanup()
        await super().cleanup()

    def _stop_idle_watch(self) -> None:
        if self._idle_scope is not None:
            self._idle_scope.cancel()

    async def _handle_audio(self, frame: InputAudioRawFrame) -> None:
        analyzer = self._analyzer
        if not analyzer.sample_rate:
            return  # audio before the StartFrame: nothing to measure it against
        now = trio.current_time()
        self._last_audio = now
        audio = frame.audio
        if frame.num_channels > 1:
            audio = to_mono(audio, frame.num_channels)
        state = analyzer.analyze(audio)
        if state is VADState.SPEAKING and not self._speaking:
            await self._started()
        elif state is VADState.QUIET and self._speaking:
            await self._stopped()
        if self._speaking and now - self._last_activity >= self._activity_period:
            self._last_activity = now
            await self.broadcast_frame(UserSpeakingFrame)

    async def _started(self) -> None:
        self._speaking = True
        self._last_activity = float("-inf")
        logger.debug("%s: user started speaking", self)
        start_secs = self._analyzer.params.start_secs
        await self.broadcast_frame(VADUserStartedSpeakingFrame, start_secs=start_secs)
        self._call_event_handler("on_speech_started")

    async def _stopped(self) -> None:
        self._speaking = False
        logger.debug("%s: user stopped speaking", self)
        stop_secs = self._analyzer.params.stop_secs
        await self.broadcast_frame(VADUserStoppedSpeakingFrame, stop_secs=stop_secs)
        self._call_event_handler("on_speech_stopped")

    async def _idle_watch(self, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                deadline = self._last_audio + self._idle_timeout
                if trio.current_time() < deadline:
                    await trio.sleep_until(deadline)
                    continue
                if self._speaking:
                    logger.warning("%s: no audio while the user spoke; ending speech", self)
                    self._analyzer.reset_state()
                    await self._stopped()
                await trio.sleep(self._idle_timeout)
