"""Voice activity detection: parameters, states and the analyzer's state machine. Pure.

A :class:`VADAnalyzer` cuts the incoming mono PCM16 into windows of
:meth:`~VADAnalyzer.num_frames_required` samples, asks its backend for a voice
confidence per window and measures the window's (smoothed) loudness. A window counts
as voiced when the confidence reaches ``params.confidence`` *and* the loudness reaches
``params.min_volume``. The state then moves as in Pipecat:

    QUIET ──voiced──► STARTING ──start_secs of voiced windows──► SPEAKING
      ▲                  │ unvoiced                                 │ unvoiced
      └──────────────────┘                                          ▼
    QUIET ◄──stop_secs of unvoiced windows── STOPPING ──voiced──► SPEAKING

Only SPEAKING and QUIET are decisions; STARTING and STOPPING are the waits before them.
Nothing here does I/O or reads a clock: time is counted in windows of audio.
"""

from __future__ import annotations

import abc
import enum

import attrs

from trio_pipe.vad.volume import VolumeMeter

__all__ = [
    "VAD_CONFIDENCE",
    "VAD_MIN_VOLUME",
    "VAD_START_SECS",
    "VAD_STOP_SECS",
    "VADAnalyzer",
    "VADParams",
    "VADState",
]

VAD_CONFIDENCE = 0.7
VAD_START_SECS = 0.2
VAD_STOP_SECS = 0.2
VAD_MIN_VOLUME = 0.6

# Weight of the newest window in the loudness average (Pipecat's smoothing factor).
_SMOOTHING = 0.2


def _unit(_instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within 0..1, got {value}")


def _non_negative(_instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class VADParams:
    """When a stream counts as speech (Pipecat's names and defaults).

    Args:
        confidence: lowest backend confidence (0..1) for a voiced window.
        start_secs: voiced audio needed before speech is confirmed.
        stop_secs: unvoiced audio needed before the end of speech is confirmed.
        min_volume: lowest smoothed loudness (0..1, see :mod:`trio_pipe.vad.volume`).
    """

    confidence: float = attrs.field(default=VAD_CONFIDENCE, converter=float, validator=_unit)
    start_secs: float = attrs.field(
        default=VAD_START_SECS, converter=float, validator=_non_negative
    )
    stop_secs: float = attrs.field(default=VAD_STOP_SECS, converter=float, validator=_non_negative)
    min_volume: float = attrs.field(default=VAD_MIN_VOLUME, converter=float, validator=_unit)


class VADState(enum.Enum):
    """Where the analyzer stands (Pipecat's values)."""

    QUIET = 1
    STARTING = 2
    SPEAKING = 3
    STOPPING = 4


class VADAnalyzer(abc.ABC):
    """Base of voice activity analyzers: a backend gives a confidence per window.

    Subclasses implement :meth:`num_frames_required` and :meth:`voice_confidence`.
    Set the rate with :meth:`set_sample_rate` before analysing (the ``VADProcessor``
    does it at the ``StartFrame``); ``sample_rate`` given here wins over it.
    """

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        self._init_sample_rate = sample_rate
        self._sample_rate = 0
        self._params = params or VADParams()
        self._buffer = bytearray()
        self._volume = VolumeMeter()
        self._smoothed_volume = 0.0
        self._window_bytes = 0
        self._start_windows = 0
        self._stop_windows = 0
        self._starting = 0
        self._stopping = 0
        self._state = VADState.QUIET

    @property
    def sample_rate(self) -> int:
        """The rate being analysed (0 before :meth:`set_sample_rate`)."""
        return self._sample_rate

    @property
    def num_channels(self) -> int:
        """Always 1: callers down-mix first."""
        return 1

    @property
    def params(self) -> VADParams:
        """The parameters in force."""
        return self._params

    @property
    def state(self) -> VADState:
        """The current state."""
        return self._state

    @property
    def volume(self) -> float:
        """The smoothed loudness of the last window (0..1)."""
        return self._smoothed_volume

    @abc.abstractmethod
    def num_frames_required(self) -> int:
        """Samples per analysis window at :attr:`sample_rate`."""

    @abc.abstractmethod
    def voice_confidence(self, buffer: bytes) -> float:
        """Confidence (0..1) that one window of PCM16 mono holds a voice."""

    def set_sample_rate(self, sample_rate: int) -> None:
        """Use ``sample_rate`` (unless one was given at construction) and reset the state."""
        rate = self._init_sample_rate or sample_rate
        if rate < 1:
            raise ValueError(f"sample_rate must be >= 1, got {rate}")
        self._sample_rate = rate
        self.set_params(self._params)

    def set_params(self, params: VADParams) -> None:
        """Use ``params``; the speech state restarts at QUIET (loudness history stays)."""
        self._params = params
        if not self._sample_rate:
            return
        window = self.num_frames_required()
        self._window_bytes = window * 2
        window_secs = window / self._sample_rate
        self._start_windows = round(params.start_secs / window_secs)
        self._stop_windows = round(params.stop_secs / window_secs)
        self.reset_state()

    def reset_state(self) -> None:
        """Back to QUIET (e.g. the audio stopped coming while the user spoke)."""
        self._starting = 0
        self._stopping = 0
        self._state = VADState.QUIET

    def analyze(self, buffer: bytes) -> VADState:
        """Add mono PCM16 ``buffer``; analyse every whole window; return the state."""
        if not self._window_bytes:
            raise RuntimeError("set_sample_rate() must be called before analysing audio")
        pending = self._buffer
        pending += buffer
        size = self._window_bytes
        offset = 0
        while len(pending) - offset >= size:
            window = bytes(pending[offset : offset + size])
            offset += size
            self._step(self._is_voiced(window))
        if offset:
            del pending[:offset]
        return self._state

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Pipecat's name for :meth:`analyze`; runs it inline (a window costs microseconds)."""
        return self.analyze(buffer)

    async def cleanup(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release the backend's resources (nothing by default)."""

    def _is_voiced(self, window: bytes) -> bool:
        confidence = self.voice_confidence(window)
        loudness = self._volume.update(window, self._sample_rate)
        self._smoothed_volume += _SMOOTHING * (loudness - self._smoothed_volume)
        params = self._params
        return confidence >= params.confidence and self._smoothed_volume >= params.min_volume

    def _step(self, voiced: bool) -> None:
        state = self._state
        if voiced:
            if state is VADState.QUIET:
                state, self._starting = VADState.STARTING, 1
            elif state is VADState.STARTING:
                self._starting += 1
            elif state is VADState.STOPPING:
                state, self._stopping = VADState.SPEAKING, 0
        elif state is VADState.STARTING:
            state, self._starting = VADState.QUIET, 0
        elif state is VADState.SPEAKING:
            state, self._stopping = VADState.STOPPING, 1
        elif state is VADState.STOPPING:
            self._stopping += 1
        if state is VADState.STARTING and self._starting >= self._start_windows:
            state, self._starting = VADState.SPEAKING, 0
        elif state is VADState.STOPPING and self._stopping >= self._stop_windows:
            state, self._stopping = VADState.QUIET, 0
        self._state = state
