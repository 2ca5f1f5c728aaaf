"""Barge-in latency: from the user's first voiced frame to the last bot audio chunk.

trio_pipe's turn-taking echo bot (``echo_app(turns=True)``: WebRTC VAD, user turns,
interruptions, RTVI) runs under Hypercorn in this process; a client session
(:mod:`trio_pipe.testing.voice.session`, Pipecat protobuf over a real socket on
127.0.0.1) sends microphone-paced 20 ms frames. Each round: the user says 1.5 s of
speech-like audio and stops; the bot starts saying it back; after a random 0.2..0.6 s of
its reply the user talks over it. Measured per round, on the client's clock:

* ``barge_in_ms``: from sending the first voiced frame of the barge-in (the first frame
  louder than -40 dBFS) to the arrival of the last chunk of the interrupted reply. It
  includes what VAD needs to be sure (``start_secs`` = 0.2 s of voiced audio plus the
  loudness smoothing), which is the bulk of it, as in Pipecat;
* ``after_interruption_ms``: from the arrival of the ``InterruptionFrame`` to that last
  chunk (what was already on its way: at most one 40 ms chunk);
* ``late_audio_ms``: bot audio that arrived after the interruption.

    python benchmarks/interruption.py [--rounds N]
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import trio

from benchmarks._harness import emit, percentiles
from trio_pipe.audio import resample_once
from trio_pipe.bots import echo_app
from trio_pipe.serving import serve_asgi
from trio_pipe.testing.voice.chunk import utterance_chunk
from trio_pipe.testing.voice.session import BotSession, open_bot_session, rtvi_message

IN_RATE = 16000
FRAME_BYTES = 640  # 20 ms at 16 kHz
VOICED_DBFS = -40.0


def speech(seconds: float) -> bytes:
    return resample_once(utterance_chunk(seconds).data, 24000, IN_RATE)


def first_voiced_frame(pcm: bytes) -> int:
    """Index of the first 20 ms frame louder than :data:`VOICED_DBFS`."""
    for n, i in enumerate(range(0, len(pcm), FRAME_BYTES)):
        x = np.frombuffer(pcm[i : i + FRAME_BYTES], "<i2").astype(np.float64) / 32768
        if x.size and 10 * np.log10(float(np.mean(x * x)) + 1e-12) > VOICED_DBFS:
            return n
    raise ValueError("no voiced frame")


async def one_round(s: BotSession, rng: random.Random) -> dict[str, float]:
    starts = len(s.messages("bot-started-speaking"))
    await s.send_audio(speech(1.5) + bytes(int(IN_RATE * 0.6) * 2))
    started = await s.wait_for(lambda: s.messages("bot-started-speaking")[starts:])
    await trio.sleep_until(started[0].at + rng.uniform(0.2, 0.6))
    barge = speech(0.8)
    voiced_at = (await s.send_audio(barge + bytes(int(IN_RATE * 0.6) * 2)))[
        first_voiced_frame(barge)
    ]
    interruption = await s.wait_for(
        lambda: [r for r in s.received if r.kind == "interruption" and r.at > started[0].at]
    )
    # The barge-in is a turn of its own, answered once it ends (0.8 s of speech and
    # stop_secs later): audio within 0.5 s of the interruption is the interrupted reply.
    await s.wait_for(lambda: len(s.messages("bot-stopped-speaking")) >= starts + 2)
    boundary = interruption[0].at + 0.5
    before_next = [r for r in s.audio(since=started[0].at) if r.at < boundary]
    last = before_next[-1].at
    late = [r for r in before_next if r.at > interruption[0].at]
    return {
        "barge_in": last - voiced_at,
        "after_interruption": last - interruption[0].at,
        "late_audio_ms": sum(len(r.audio) for r in late) / (2 * 24000) * 1000,
    }


async def run(rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_asgi, echo_app("protobuf", turns=True))
        results = []
        async with open_bot_session(server.ws_url("/ws")) as s:
            await s.send_message(rtvi_message("client-ready", {"version": "2.2.0"}))
            with trio.fail_after(10):
                await s.wait_for(lambda: s.messages("bot-ready"))
            for _ in range(rounds):
                with trio.fail_after(30):
                    results.append(await one_round(s, rng))
                await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    return {
        "benchmark": "interruption",
        "rounds": rounds,
        "barge_in_ms": percentiles([r["barge_in"] for r in results], scale=1e3),
        "after_interruption_ms": percentiles([r["after_interruption"] for r in results], scale=1e3),
        "late_audio_ms": percentiles([r["late_audio_ms"] / 1e3 for r in results], scale=1e3),
        "vad": {"start_secs": 0.2, "stop_secs": 0.2, "backend": "webrtcvad"},
        "output_chunk_ms": 40,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    emit(trio.run(run, args.rounds, args.seed))


if __name__ == "__main__":
    main()
