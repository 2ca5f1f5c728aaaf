"""TwilioFrameSerializer: the Twilio Media Streams WebSocket protocol (server side).

Text JSON both ways, audio as base64 G.711 µ-law at 8 kHz. Outgoing: audio frames become
``media`` events (resampled and µ-law encoded through :mod:`trio_pipe.audio`), an
``InterruptionFrame`` becomes ``clear``, transport messages are sent as their JSON (RTVI
ones dropped by default), and EndFrame/CancelFrame hang the call up through Twilio's REST
API when ``auto_hang_up`` is on (Pipecat's default, which needs credentials). Incoming:
``media`` becomes ``InputAudioRawFrame`` at the pipeline's input rate; ``connected``,
``start``, ``mark``, ``stop`` and ``dtmf`` (DTMF is out of trio_pipe's scope) give None.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import attrs
import trio

from trio_pipe import audio
from trio_pipe.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from trio_pipe.serializers.base_serializer import FrameSerializer, FrameSerializerParams

__all__ = ["TwilioFrameSerializer", "TwilioSerializerParams", "twilio_call_url"]

logger = logging.getLogger(__name__)

_HANG_UP_TIMEOUT_SECS = 10.0


@attrs.define(kw_only=True)
class TwilioSerializerParams(FrameSerializerParams):
    """Twilio options (Pipecat's ``TwilioFrameSerializer.InputParams``).

    ``twilio_sample_rate``: Twilio's audio rate. ``sample_rate``: the rate of incoming
    audio frames (default: the StartFrame's ``audio_in_sample_rate``). ``auto_hang_up``:
    end the call over Twilio's REST API on EndFrame/CancelFrame.
    """

    twilio_sample_rate: int = 8000
    sample_rate: int | None = None
    auto_hang_up: bool = True


def twilio_call_url(
    account_sid: str,
    call_sid: str,
    *,
    base_url: str | None = None,
    region: str | None = None,
    edge: str | None = None,
) -> str:
    """REST URL of a Call resource: ``base_url`` if given, else Twilio's edge/region host."""
    if base_url:
        root = base_url.rstrip("/")
    else:
        host = ".".join(part for part in ("api", edge, region, "twilio", "com") if part)
        root = f"https://{host}"
    return f"{root}/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"


class _EdgeResampler:
    """One direction's resampler: rebuilt when the source rate changes, and started afresh
    after ``clear_after`` seconds without audio (stale filter history would smear the
    previous utterance into the next, as Pipecat's resampler avoids too)."""

    def __init__(self, out_rate: int, clear_after: float | None) -> None:
        self._out_rate = out_rate
        self._clear_after = clear_after
        self._resampler: audio.Resampler | None = None
        self._last_use = -float("inf")

    def convert(self, pcm: bytes, in_rate: int) -> bytes:
        now = trio.current_time()
        resampler = self._resampler
        if resampler is None or resampler.in_rate != in_rate:
            resampler = self._resampler = audio.Resampler(in_rate, self._out_rate)
        elif self._clear_after is not None and now - self._last_use > self._clear_after:
            resampler.reset()
        self._last_use = now
        return resampler.resample(pcm)

    def reset(self) -> None:
        if self._resampler is not None:
            self._resampler.reset()


class TwilioFrameSerializer(FrameSerializer):
    """Twilio Media Streams, with Pipecat 1.14's constructor and validation.

    With ``auto_hang_up`` (the default) ``call_sid``, ``account_sid`` and either
    ``auth_token`` or ``api_key_sid`` + ``api_key_secret`` are required; ``region`` and
    ``edge`` go together unless ``base_url`` is given.
    """

    InputParams = TwilioSerializerParams

    def __init__(
        self,
        stream_sid: str,
        call_sid: str | None = None,
        account_sid: str | None = None,
        auth_token: str | None = None,
        region: str | None = None,
        edge: str | None = None,
        base_url: str | None = None,
        params: TwilioSerializerParams | None = None,
        *,
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
    ) -> None:
        params = params if params is not None else TwilioSerializerParams()
        super().__init__(params)
        self._params: TwilioSerializerParams = params
        if params.auto_hang_up:
            _check_credentials(
                call_sid, account_sid, auth_token, api_key_sid, api_key_secret, region, edge,
                base_url,
            )  # fmt: skip
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self._account_sid = account_sid
        # Basic-auth login: the account with its token, or an API key with its secret.
        self._login = (account_sid, auth_token) if auth_token else (api_key_sid, api_key_secret)
        self._call_url = (
            twilio_call_url(account_sid, call_sid, base_url=base_url, region=region, edge=edge)
            if account_sid and call_sid
            else None
        )
        self._twilio_rate = params.twilio_sample_rate
        default_rate: int = attrs.fields(StartFrame).audio_in_sample_rate.default
        self._sample_rate = params.sample_rate or default_rate
        clear_after = params.resampler_clear_after_secs
        self._to_pipeline = _EdgeResampler(self._sample_rate, clear_after)
        self._to_twilio = _EdgeResampler(self._twilio_rate, clear_after)
        self._hang_up_attempted = False

    async def setup(self, start_frame: StartFrame) -> None:
        """Take the pipeline's input rate from the StartFrame unless one was configured."""
        rate = self._params.sample_rate or start_frame.audio_in_sample_rate
        if rate != self._sample_rate:
            self._sample_rate = rate
            self._to_pipeline = _EdgeResampler(rate, self._params.resampler_clear_after_secs)

    async def serialize(self, frame: Frame) -> str | None:
        """The Twilio event for ``frame`` (JSON text), or None."""
        if isinstance(frame, EndFrame | CancelFrame):
            if self._params.auto_hang_up and not self._hang_up_attempted:
                self._hang_up_attempted = True
                await self.hang_up_call()
            return None
        if isinstance(frame, InterruptionFrame):
            # What was resampled for the interrupted speech must not leak into the next.
            self._to_twilio.reset()
            return json.dumps({"event": "clear", "streamSid": self.stream_sid})
        if isinstance(frame, AudioRawFrame):
            ulaw = audio.ulaw_encode(self._to_twilio.convert(frame.audio, frame.sample_rate))
            if not ulaw:
                return None
            payload = base64.b64encode(ulaw).decode("ascii")
            return json.dumps(
                {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
            )
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            if self.should_ignore_frame(frame):
                return None
            try:
                return json.dumps(frame.message)
            except (TypeError, ValueError) as error:
                self._encode_failed(frame, error)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """``InputAudioRawFrame`` for a ``media`` event; None for other events."""
        try:
            message: Any = json.loads(data)
        except (ValueError, TypeError) as error:
            self._decode_failed("not JSON: %s", error)
            return None
        if not isinstance(message, dict):
            self._decode_failed("not a Twilio event: %.80r", message)
            return None
        if message.get("event") != "media":
            return None  # connected/start/mark/stop, and dtmf (out of scope)
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not payload:
            return None
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, TypeError, ValueError) as error:
            self._decode_failed("bad media payload: %s", error)
            return None
        pcm = self._to_pipeline.convert(audio.ulaw_decode(ulaw), self._twilio_rate)
        if not pcm:
            return None
        return InputAudioRawFrame(audio=pcm, sample_rate=self._sample_rate, num_channels=1)

    async def hang_up_call(self) -> None:
        """End the call (POST ``Status=completed`` to its REST resource); errors are logged.

        Runs the stdlib HTTP request in a worker thread that is abandoned on cancellation.
        """
        if self._call_url is None:
            return
        request = urllib.request.Request(
            self._call_url,
            data=urllib.parse.urlencode({"Status": "completed"}).encode(),
            method="POST",
        )
        login, password = self._login
        token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")

        def post() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(request, timeout=_HANG_UP_TIMEOUT_SECS) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        try:
            status, body = await trio.to_thread.run_sync(post, abandon_on_cancel=True)
        except OSError as error:
            logger.error("Failed to hang up Twilio call %s: %s", self.call_sid, error)
            return
        if status == 200:
            logger.info("Terminated Twilio call %s", self.call_sid)
        elif status == 404 and _twilio_error_code(body) == 20404:
            logger.debug("Twilio call %s was already over", self.call_sid)
        else:
            logger.error(
                "Failed to hang up Twilio call %s: HTTP %s %s", self.call_sid, status, body[:200]
            )


def _twilio_error_code(body: bytes) -> Any:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded.get("code") if isinstance(decoded, dict) else None


def _check_credentials(
    call_sid: str | None,
    account_sid: str | None,
    auth_token: str | None,
    api_key_sid: str | None,
    api_key_secret: str | None,
    region: str | None,
    edge: str | None,
    base_url: str | None,
) -> None:
    missing = []
    if not call_sid:
        missing.append("call_sid")
    if not account_sid:
        missing.append("account_sid")
    if not auth_token and not api_key_sid and not api_key_secret:
        missing.append("auth_token or api_key_sid + api_key_secret")
    if missing:
        raise ValueError(f"auto_hang_up is enabled but these are missing: {', '.join(missing)}")
    if auth_token and (api_key_sid or api_key_secret):
        raise ValueError("give auth_token or api_key_sid + api_key_secret, not both")
    if bool(api_key_sid) != bool(api_key_secret):
        raise ValueError("api_key_sid and api_key_secret go together")
    if not base_url and bool(region) != bool(edge):
        raise ValueError(
            f"region and edge go together (api.<edge>.<region>.twilio.com); "
            f"got region={region!r}, edge={edge!r}"
        )
