"""The VAD state machine and loudness, without sockets or clocks: time is audio windows."""

from __future__ import annotations

import numpy as np
import pytest

from trio_pipe.vad.analyzer import VADAnalyzer, VADParams, VADState
from trio_pipe.vad.volume import VolumeMeter, normalized_loudness

RATE = 16000
WINDOW = 320  # 20 ms


class MarkedVAD(VADAnalyzer):
    """Confidence 1.0 for a window whose first sample is not zero (the test decides)."""

    def __init__(self, params: VADParams) -> None:
        super().__init__(sample_rate=RATE, params=params)
        self.windows = 0

    def num_frames_required(self) -> int:
        return WINDOW

    def voice_confidence(self, buffer: bytes) -> float:
        self.windows += 1
        return 1.0 if buffer[:2] != b"\x00\x00" else 0.0


def voiced(windows: int, amplitude: float = 0.3) -> bytes:
    return (np.full(WINDOW * windows, int(amplitude * 32767), dtype="<i2")).tobytes()


def quiet(windows: int) -> bytes:
    return bytes(WINDOW * windows * 2)


def states(vad: VADAnalyzer, audio: bytes) -> list[VADState]:
    """The state after each 20 ms window, fed one window at a time."""
    return [vad.analyze(audio[i : i + WINDOW * 2]) for i in range(0, len(audio), WINDOW * 2)]


def test_params_defaults_and_validation() -> None:
    p = VADParams()
    assert (p.confidence, p.start_secs, p.stop_secs, p.min_volume) == (0.7, 0.2, 0.2, 0.6)
    with pytest.raises(ValueError):
        VADParams(confidence=1.5)
    with pytest.raises(ValueError):
        VADParams(stop_secs=-1)
    with pytest.raises(ValueError):
        VADParams(min_volume=-0.1)


def test_start_needs_start_secs_of_voiced_windows() -> None:
    vad = MarkedVAD(VADParams(start_secs=0.2, stop_secs=0.2, min_volume=0.0))
    vad.set_sample_rate(RATE)
    seen = states(vad, voiced(12))
    assert seen[0] is VADState.STARTING
    assert seen[8] is VADState.STARTING  # 9 windows: 180 ms
    assert seen[9] is VADState.SPEAKING  # 10 windows: 200 ms


def test_a_gap_shorter_than_start_secs_restarts_the_count() -> None:
    vad = MarkedVAD(VADParams(start_secs=0.2, min_volume=0.0))
    vad.set_sample_rate(RATE)
    seen = states(vad, voiced(5) + quiet(1) + voiced(9))
    assert VADState.SPEAKING not in seen
    assert seen[5] is VADState.QUIET


def test_stop_needs_stop_secs_of_unvoiced_windows_and_voice_resumes_speech() -> None:
    vad = MarkedVAD(VADParams(start_secs=0.0, stop_secs=0.1, min_volume=0.0))
    vad.set_sample_rate(RATE)
    seen = states(vad, voiced(2) + quiet(4) + voiced(1) + quiet(5))
    assert seen[0] is VADState.SPEAKING  # start_secs=0: the first voiced window
    assert seen[2:6] == [VADState.STOPPING] * 4  # 4 x 20 ms < 100 ms
    assert seen[6] is VADState.SPEAKING
    assert seen[7:11] == [VADState.STOPPING] * 4
    assert seen[11] is VADState.QUIET  # 5 windows: 100 ms


def test_confidence_threshold() -> None:
    class Half(MarkedVAD):
        def voice_confidence(self, buffer: bytes) -> float:
            return 0.5

    vad = Half(VADParams(confidence=0.7, start_secs=0.0, min_volume=0.0))
    vad.set_sample_rate(RATE)
    assert set(states(vad, voiced(5))) == {VADState.QUIET}
    vad.set_params(VADParams(confidence=0.5, start_secs=0.0, min_volume=0.0))
    assert states(vad, voiced(1)) == [VADState.SPEAKING]


def test_min_volume_gates_quiet_voices_after_the_loudness_window_fills() -> None:
    vad = MarkedVAD(VADParams(start_secs=0.0, min_volume=0.6))
    vad.set_sample_rate(RATE)
    # -80 dBFS is below the loudness gate: never speech, however confident.
    assert set(states(vad, voiced(40, amplitude=0.0001))) == {VADState.QUIET}
    vad = MarkedVAD(VADParams(start_secs=0.0, min_volume=0.6))
    vad.set_sample_rate(RATE)
    seen = states(vad, voiced(40, amplitude=0.3))
    first = seen.index(VADState.SPEAKING)
    # the 400 ms window fills at window 20, then smoothing needs a few windows
    assert 20 <= first <= 26
    assert vad.volume > 0.6


def test_buffers_of_any_size_are_cut_into_windows() -> None:
    vad = MarkedVAD(VADParams(start_secs=0.2, min_volume=0.0))
    vad.set_sample_rate(RATE)
    audio = voiced(10)
    assert vad.analyze(audio[:333]) is VADState.QUIET and vad.windows == 0
    assert vad.analyze(audio[333:]) is VADState.SPEAKING and vad.windows == 10


def test_analysing_before_the_rate_is_known_is_an_error() -> None:
    class NoRate(MarkedVAD):
        def __init__(self) -> None:
            VADAnalyzer.__init__(self, params=VADParams())

    with pytest.raises(RuntimeError):
        NoRate().analyze(voiced(1))


def test_loudness_scale() -> None:
    assert normalized_loudness(b"") == 0.0
    assert normalized_loudness(bytes(640)) == 0.0
    full_sine = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 1000) * 32767).astype("<i2")
    # -3 dB (about -3.7 with the offset) on the -110..-10 scale
    assert normalized_loudness(full_sine.tobytes()) == pytest.approx(1.0)
    quieter = (full_sine // 100).astype("<i2")  # -40 dB
    assert normalized_loudness(quieter.tobytes()) == pytest.approx(0.663, abs=0.01)


def test_volume_meter_reads_zero_until_the_window_is_full() -> None:
    meter = VolumeMeter()
    loud = voiced(1)
    readings = [meter.update(loud, RATE) for _ in range(20)]
    assert readings[:19] == [0.0] * 19 and readings[19] > 0.9
    assert meter.update(loud, 8000) == 0.0  # a new rate starts a new window
