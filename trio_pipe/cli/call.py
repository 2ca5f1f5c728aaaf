"""Call a voice bot: speak to it, record its reply, print per-turn latency and turn ends.

    trio-pipe call ws://127.0.0.1:8765/ws                      # a generated utterance
    trio-pipe call ws://127.0.0.1:8765/ws --wav hello.wav --out reply.wav
    trio-pipe call ws://... --protocol twilio --turns 3 --listen-first

Each turn sends the user audio in 20 ms frames at the speed of speech, then reads the
bot's reply until it pauses for --tail-silence seconds, or, with --vad, until voice
activity detection hears the bot stop talking (for bots that keep streaming audio).
Latency is from the end of the user's speech to the arrival of the first reply audio; it
is negative when the bot was already talking before the user finished (an echo bot does
that).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import trio

from trio_pipe.cli import CommandError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``call`` arguments."""
    parser.add_argument("url", help="the bot's WebSocket URL (ws://host:port/path)")
    parser.add_argument(
        "--protocol",
        choices=("protobuf", "twilio", "raw"),
        default="protobuf",
        help="wire protocol: Pipecat protobuf frames (default), Twilio Media Streams, raw PCM16",
    )
    speech = parser.add_mutually_exclusive_group()
    speech.add_argument("--wav", type=Path, help="speak this PCM16 WAV file (any rate/channels)")
    speech.add_argument("--tone", type=float, metavar="SECONDS", help="speak a 440 Hz tone")
    speech.add_argument(
        "--utterance",
        type=float,
        metavar="SECONDS",
        help="speak a generated speech-like signal (the default, 1.5 s)",
    )
    parser.add_argument("--out", type=Path, help="write the bot's replies to this WAV file")
    parser.add_argument("--turns", type=int, default=1, help="how many times to speak (1)")
    parser.add_argument(
        "--listen-first", action="store_true", help="read the bot's greeting before speaking"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a reply to start (10)"
    )
    parser.add_argument(
        "--tail-silence", type=float, default=0.6, help="a pause this long ends a reply (0.6)"
    )
    parser.add_argument(
        "--max-duration", type=float, default=30.0, help="longest reply read per turn (30)"
    )
    parser.add_argument(
        "--vad",
        action="store_true",
        help="also end a reply when VAD hears the bot stop talking (WebRTC VAD)",
    )
    parser.add_argument(
        "--vad-stop-secs",
        type=float,
        default=0.3,
        help="with --vad: how long the bot must be quiet to end its turn (0.3)",
    )
    parser.add_argument(
        "--trailing-silence",
        type=float,
        default=0.5,
        help="seconds of silence sent after speaking, for the bot's VAD (0.5)",
    )
    parser.add_argument(
        "--in-rate", type=int, default=16000, help="the bot's input rate (protobuf, raw)"
    )
    parser.add_argument("--out-rate", type=int, default=24000, help="the bot's output rate (raw)")
    parser.add_argument(
        "--no-realtime", action="store_true", help="send audio as fast as possible, unpaced"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per turn")


def _user_audio(args: argparse.Namespace) -> Any:
    from trio_pipe.testing.voice import tone_chunk, utterance_chunk
    from trio_pipe.testing.voice.recording import read_wav

    if args.wav is not None:
        try:
            return read_wav(args.wav.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read {args.wav}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise CommandError(f"{args.wav}: {exc}") from None
    if args.tone is not None:
        return tone_chunk(args.tone)
    return utterance_chunk(args.utterance if args.utterance is not None else 1.5)


def _report(record: Any, as_json: bool) -> str:
    latency = record.latency
    sent = record.user_audio.duration_seconds if record.user_audio is not None else 0.0
    fields = {
        "turn": record.index,
        "sent_s": round(sent, 3),
        "received_s": round(record.agent_audio.duration_seconds, 3),
        "chunks": record.chunk_count,
        "latency_ms": None if latency is None else round(latency * 1000, 1),
        "ended_by": str(record.reason),
    }
    if as_json:
        return json.dumps(fields)
    if latency is None:
        first = "no audio"
    elif latency >= 0:
        first = f"first audio {latency * 1000:.1f} ms after the end of speech"
    else:  # the bot was talking before the user finished
        first = f"first audio {-latency * 1000:.1f} ms before the end of speech (overlap)"
    return (
        f"turn {record.index}: sent {sent:.2f} s, received {fields['received_s']:.2f} s "
        f"in {record.chunk_count} chunks, {first}, ended by {record.reason}"
    )


async def _call(args: argparse.Namespace, replies: list[bytes]) -> bool:
    """The call; ``replies`` gets each turn's reply as it completes. True if a SIGINT
    cut it short (what was recorded until then is kept)."""
    error: CommandError | None = None
    interrupted = False
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                nonlocal interrupted
                async for _ in signals:
                    interrupted = True
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            try:
                await _turns(args, replies)
            except CommandError as exc:  # raised below as itself, not in a group
                error = exc
            nursery.cancel_scope.cancel()
    if error is not None:
        raise error
    return interrupted


async def _turns(args: argparse.Namespace, replies: list[bytes]) -> None:
    from trio_pipe.testing.voice import (
        AgentConnectError,
        AgentStreamEndedError,
        FirstChunkTimeoutError,
        TransportNotConnectedError,
        adapter_for,
    )

    user = _user_audio(args)
    try:
        adapter = adapter_for(
            args.url,
            args.protocol,
            in_rate=args.in_rate,
            out_rate=args.out_rate,
            realtime=not args.no_realtime,
            trailing_silence=args.trailing_silence,
            connect_timeout=args.timeout,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    adapter.response_timeout = args.timeout
    adapter.response_tail_silence = args.tail_silence
    adapter.response_max_duration = args.max_duration
    if args.vad:
        from trio_pipe.vad import VADParams

        adapter.end_of_turn_vad = VADParams(stop_secs=args.vad_stop_secs)
    adapter.add_turn_listener(lambda record: print(_report(record, args.json), flush=True))
    try:
        async with adapter:
            if args.listen_first:
                replies.append((await adapter.call(None)).data)
            for _ in range(args.turns):
                replies.append((await adapter.call(user)).data)
    except AgentConnectError as exc:
        raise CommandError(str(exc)) from None
    except FirstChunkTimeoutError as exc:
        raise CommandError(f"turn {adapter.turn_count + 1}: {exc}") from None
    except (AgentStreamEndedError, TransportNotConnectedError) as exc:
        raise CommandError(f"turn {adapter.turn_count + 1}: {exc}") from None
    except ValueError as exc:  # a malformed URL
        raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Speak, listen, report; write the replies if asked."""
    if args.turns < 1:
        raise CommandError("--turns must be at least 1")
    if args.vad_stop_secs < 0:
        raise CommandError("--vad-stop-secs must be >= 0")
    replies: list[bytes] = []
    interrupted = trio.run(_call, args, replies)
    reply = b"".join(replies)
    if interrupted:
        print(f"interrupted after {len(replies)} turn(s)", file=sys.stderr)
    if args.out is not None:
        from trio_pipe.testing.voice import AudioChunk
        from trio_pipe.testing.voice.recording import wav_bytes

        chunk = AudioChunk(reply)
        try:
            args.out.write_bytes(wav_bytes(chunk))
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        if not args.json:
            print(f"wrote {args.out} ({chunk.duration_seconds:.2f} s)", file=sys.stderr)
    return 130 if interrupted else 0
