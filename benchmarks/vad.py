"""VAD cost per 20 ms of audio: trio_pipe's WebRTC analyzer beside Pipecat 1.14's.

The signal is ``--seconds`` of 16 kHz mono, speech-like syllables alternating with
silence (``utterance_chunk``), cut into 20 ms chunks as a transport delivers them. Each
side feeds the chunks one by one to its analyzer and times every call:

* ours: ``WebRTCVADAnalyzer.analyze`` (confidence, loudness, state machine), inline;
* Pipecat: ``SileroVADAnalyzer`` (ONNX model on onnxruntime, 512-sample windows), timed
  at ``_run_analyzer`` (the work its executor thread does per chunk) and at
  ``await analyze_audio`` (the same plus the hop to the thread and back), in a
  subprocess under ``PIPECAT_PYTHON``.

Reported per side: µs per 20 ms chunk (mean, p50, p99) and the share of one core that
real-time analysis of one stream costs. The two analyzers are different work (a WebRTC
GMM detector against a Silero neural network; Pipecat 1.14 ships no WebRTC analyzer and
trio_pipe no Silero one), so the document's ``speedup`` entry publishes no ratio and says
why (``trio-pipe bench`` shows the row as "no ratio"); ``cost_pipecat_over_ours`` keeps
Pipecat's mean over ours per round for the curious. Both sides report how many chunks
they judged to be speech, as a sanity check that each heard the syllables.

    python benchmarks/vad.py [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from benchmarks._harness import (
    MIN_ROUNDS,
    Metric,
    alternate,
    emit,
    no_ratio,
    percentiles,
    pipecat_python,
    round_speedups,
    run_pipecat,
)
from trio_pipe.audio import resample_once
from trio_pipe.testing.voice.chunk import silent_chunk, utterance_chunk
from trio_pipe.vad import VADState, WebRTCVADAnalyzer

RATE = 16000
CHUNK = 640  # 20 ms at 16 kHz mono
UNEQUAL_WORK = "different work: WebRTC (ours) vs Silero (Pipecat)"

PIPECAT_SCRIPT = r"""
import asyncio, json, sys, time, warnings
warnings.simplefilter("ignore")
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState

audio = open(sys.argv[1], "rb").read()
chunk = int(sys.argv[2])
chunks = [audio[i:i + chunk] for i in range(0, len(audio), chunk)]

def fresh():
    vad = SileroVADAnalyzer(sample_rate=16000)
    vad.set_sample_rate(16000)
    return vad

vad = fresh()
core, speaking = [], 0
for c in chunks:
    t0 = time.perf_counter()
    state = vad._run_analyzer(c)
    core.append(time.perf_counter() - t0)
    speaking += state == VADState.SPEAKING

async def hop():
    v = fresh()
    out = []
    for c in chunks:
        t0 = time.perf_counter()
        await v.analyze_audio(c)
        out.append(time.perf_counter() - t0)
    await v.cleanup()
    return out

full = asyncio.run(hop())
print(json.dumps({"core": core, "full": full, "speaking_chunks": speaking}))
"""


def signal(seconds: float) -> bytes:
    """Syllables and silences in turn, 16 kHz mono PCM16."""
    piece = silent_chunk(1.0).data + utterance_chunk(1.5).data
    audio24 = piece * max(1, int(seconds / 2.5))
    return resample_once(audio24, 24000, RATE)


def summarize(samples: list[float], speaking: int) -> dict:
    mean_us = statistics.fmean(samples) * 1e6
    return {
        "chunks": len(samples),
        "us_per_chunk": percentiles(samples),
        "mean_us_per_chunk": round(mean_us, 2),
        "core_share_per_stream_pct": round(mean_us / 20_000 * 100, 3),
        "speaking_chunks": speaking,
    }


def ours(audio: bytes) -> dict:
    vad = WebRTCVADAnalyzer()
    vad.set_sample_rate(RATE)
    chunks = [audio[i : i + CHUNK] for i in range(0, len(audio), CHUNK)]
    samples, speaking = [], 0
    for c in chunks:
        t0 = time.perf_counter()
        state = vad.analyze(c)
        samples.append(time.perf_counter() - t0)
        speaking += state is VADState.SPEAKING
    return summarize(samples, speaking)


def theirs(path: str) -> dict:
    result = run_pipecat(PIPECAT_SCRIPT, [path, str(CHUNK)])
    core = summarize(result["core"], result["speaking_chunks"])
    core["with_thread_hop"] = summarize(result["full"], result["speaking_chunks"])
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    args = parser.parse_args()
    audio = signal(args.seconds)
    with tempfile.NamedTemporaryFile(suffix=".pcm", delete=False) as f:
        f.write(audio)
        path = f.name
    try:
        have_pipecat = pipecat_python() is not None
        mine, other = alternate(
            lambda: ours(audio), (lambda: theirs(path)) if have_pipecat else None, args.rounds
        )
    finally:
        os.unlink(path)
    document = {
        "benchmark": "vad",
        "area": "Voice activity detection",
        "audio_seconds": round(len(audio) / (RATE * 2), 2),
        "chunk_ms": 20,
        "trio_pipe": {"analyzer": "WebRTCVADAnalyzer (webrtcvad-wheels)", "rounds": mine},
        "pipecat": {"analyzer": "SileroVADAnalyzer (onnxruntime)", "rounds": other},
    }
    if other:
        cost = Metric("", lambda r: r["mean_us_per_chunk"], higher_is_better=False)
        document["cost_pipecat_over_ours"] = [
            None if v is None else round(v, 2) for v in round_speedups(mine, other, cost)
        ]
        document["speedup"] = {
            "vad_cost": no_ratio("VAD cost per 20 ms chunk (mean)", len(other), why=UNEQUAL_WORK)
        }
    emit(document)


if __name__ == "__main__":
    main()
