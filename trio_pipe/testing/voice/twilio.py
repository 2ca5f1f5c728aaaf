"""Twilio Media Streams (JSON text messages, G.711 µ-law at 8 kHz): the caller's side.

The adapter plays Twilio: on connect it sends ``connected`` and ``start`` (with stream
and call ids), then the user's audio as ``media`` messages of exactly 160 µ-law bytes
(20 ms), one ``mark`` named ``utterance_end`` after each utterance, and ``stop`` on
disconnect. What the bot sends back: ``media`` is audio, ``stop`` ends the stream (an
empty chunk), ``clear`` and ``mark`` are events, anything else is ignored.

This is what Pipecat's ``TwilioFrameSerializer`` expects (its runner reads the first two
messages to find ``start.streamSid`` / ``start.callSid``). The bot must not try to hang
up through Twilio's REST API: build its serializer with ``auto_hang_up=False``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from trio_pipe.audio import Resampler, ulaw_decode, ulaw_encode
from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, AudioChunk
from trio_pipe.testing.voice.protocols import Encoded, Message, WebSocketProtocol

__all__ = ["TWILIO_FRAME_BYTES", "TWILIO_SAMPLE_RATE", "TwilioMediaStreamProtocol"]

TWILIO_SAMPLE_RATE = 8000
TWILIO_FRAME_BYTES = 160  # 20 ms of µ-law at 8 kHz
_ULAW_SILENCE = b"\xff"  # µ-law code for 0


class TwilioMediaStreamProtocol(WebSocketProtocol):
    """Speak Twilio Media Streams to a bot.

    ``stream_sid`` / ``call_sid`` default to fresh ``MZ…`` / ``CA…`` ids (32 hex digits)
    on every connect. Interruption is not offered: Twilio's ``clear`` goes from the server
    to Twilio, and Pipecat 1.14's serializer ignores it from the caller, so barge-in is
    the way to interrupt such a bot.
    """

    input_formats = ["mulaw/8000"]
    output_formats = ["mulaw/8000"]

    def __init__(self, stream_sid: str | None = None, call_sid: str | None = None) -> None:
        self._given_stream_sid = stream_sid
        self._given_call_sid = call_sid
        self.stream_sid = stream_sid or ""
        self.call_sid = call_sid or ""
        self._to_bot = Resampler(PCM16_SAMPLE_RATE, TWILIO_SAMPLE_RATE)
        self._from_bot = Resampler(TWILIO_SAMPLE_RATE, PCM16_SAMPLE_RATE)
        self._pending = bytearray()  # µ-law not yet making a whole 160-byte frame
        self._parsed: tuple[str, Any] | None = None  # last text parsed, reused by decode_event
        self.reset()

    # -- connection -----------------------------------------------------------------------

    def reset(self) -> None:
        """New ids (unless given), empty resamplers and frame buffer."""
        self.stream_sid = self._given_stream_sid or f"MZ{secrets.token_hex(16)}"
        self.call_sid = self._given_call_sid or f"CA{secrets.token_hex(16)}"
        self._to_bot.reset()
        self._from_bot.reset()
        self._pending.clear()
        self._parsed = None

    def on_connect(self) -> list[Message]:
        """``connected`` then ``start`` (µ-law, 8000 Hz, mono)."""
        start = {
            "event": "start",
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "mediaFormat": {
                    "encoding": "audio/x-mulaw",
                    "sampleRate": TWILIO_SAMPLE_RATE,
                    "channels": 1,
                },
            },
        }
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        return [json.dumps(connected), json.dumps(start)]

    def on_disconnect(self) -> list[Message]:
        """``stop``."""
        return [json.dumps({"event": "stop", "streamSid": self.stream_sid})]

    # -- outbound -------------------------------------------------------------------------

    def _media(self, frame: bytes) -> str:
        payload = base64.b64encode(frame).decode("ascii")
        return json.dumps(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    def encode_audio(self, pcm24k: bytes) -> Encoded:
        """Whole 160-byte µ-law frames as ``media`` messages; the rest waits for more audio."""
        self._pending += ulaw_encode(self._to_bot.resample(pcm24k))
        whole = len(self._pending) - len(self._pending) % TWILIO_FRAME_BYTES
        if not whole:
            return None
        frames = [
            self._media(bytes(self._pending[i : i + TWILIO_FRAME_BYTES]))
            for i in range(0, whole, TWILIO_FRAME_BYTES)
        ]
        del self._pending[:whole]
        return frames

    def end_of_utterance(self) -> list[Message]:
        """The last partial frame padded with silence, then ``mark`` ``utterance_end``."""
        out: list[Message] = []
        if self._pending:
            pad = _ULAW_SILENCE * (TWILIO_FRAME_BYTES - len(self._pending))
            out.append(self._media(bytes(self._pending) + pad))
            self._pending.clear()
        mark = {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": "utterance_end"}}
        out.append(json.dumps(mark))
        return out

    # -- inbound --------------------------------------------------------------------------

    def _parse(self, message: Message) -> dict[str, Any] | None:
        if isinstance(message, bytes):
            return None  # Media Streams is text only
        if self._parsed is not None and self._parsed[0] is message:
            return self._parsed[1]
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None  # not JSON: ignored, like any unknown message
        if not isinstance(parsed, dict):
            parsed = None
        self._parsed = (message, parsed)
        return parsed

    def decode_response(self, message: Message) -> AudioChunk | None:
        """``media`` → 24 kHz audio; ``stop`` → an empty chunk; anything else → None."""
        parsed = self._parse(message)
        if parsed is None:
            return None
        event = parsed.get("event")
        if event == "media":
            media = parsed.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            if not payload:
                return None
            try:
                ulaw = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"Twilio media payload is not base64: {exc}") from exc
            pcm = self._from_bot.resample(ulaw_decode(ulaw))
            return AudioChunk(pcm) if pcm else None
        if event == "stop":
            return AudioChunk(b"")
        return None

    def decode_event(self, message: Message) -> dict[str, Any] | None:
        """``clear`` → ``{"type": "clear"}``; ``mark`` → ``{"type": "mark", "name": ...}``."""
        parsed = self._parse(message)
        if parsed is None:
            return None
        event = parsed.get("event")
        if event == "clear":
            return {"type": "clear", "data": parsed}
        if event == "mark":
            mark = parsed.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            return {"type": "mark", "name": name, "data": parsed}
        return None
