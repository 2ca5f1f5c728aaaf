"""The WebRTC backend on speech-like and silent signals, at native and resampled rates."""

from __future__ import annotations

import numpy as np
import pytest

from trio_pipe.audio import resample_once
from trio_pipe.testing.voice.chunk import silent_chunk, utterance_chunk
from trio_pipe.vad.analyzer import VADParams, VADState
from trio_pipe.vad.webrtc import WebRTCVADAnalyzer


def decisions(vad: WebRTCVADAnalyzer, audio: bytes, chunk_bytes: int) -> list[VADState]:
    return [vad.analyze(audio[i : i + chunk_bytes]) for i in range(0, len(audio), chunk_bytes)]


@pytest.mark.parametrize("rate", [16000, 24000, 8000, 48000])
def test_utterance_between_silences_is_one_speech_span(rate: int) -> None:
    audio24 = silent_chunk(1.0).data + utterance_chunk(1.5).data + silent_chunk(1.0).data
    audio = audio24 if rate == 24000 else resample_once(audio24, 24000, rate)
    vad = WebRTCVADAnalyzer()
    vad.set_sample_rate(rate)
    chunk = rate // 50 * 2  # 20 ms chunks, as transports deliver them
    seen = decisions(vad, audio, chunk)
    speaking = [s is VADState.SPEAKING for s in seen]
    first = speaking.index(True)
    last = len(speaking) - 1 - speaking[::-1].index(True)
    # speech starts inside the utterance (after start_secs + loudness smoothing) ...
    assert 50 + 10 <= first <= 50 + 30
    # ... never flips off inside it (syllable gaps < stop_secs), and ends after it
    assert all(speaking[first : 50 + 75])
    assert 125 <= last <= 125 + 15
    assert seen[-1] is VADState.QUIET


def test_silence_and_a_gated_whisper_are_never_speech() -> None:
    vad = WebRTCVADAnalyzer()
    vad.set_sample_rate(16000)
    whisper = np.frombuffer(resample_once(utterance_chunk(2.0).data, 24000, 16000), "<i2") // 3000
    audio = bytes(32000 * 2) + whisper.astype("<i2").tobytes()
    assert set(decisions(vad, audio, 640)) == {VADState.QUIET}


def test_aggressiveness_is_checked() -> None:
    with pytest.raises(ValueError):
        WebRTCVADAnalyzer(aggressiveness=4)
    assert WebRTCVADAnalyzer(params=VADParams(stop_secs=0.5)).params.stop_secs == 0.5
