"""TwilioFrameSerializer: Media Streams JSON, µ-law 8 kHz, clear, hang-up."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import trio

from trio_pipe import audio
from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TextFrame,
)
from trio_pipe.serializers.frames import TwilioFrameSerializer, TwilioSerializerParams

SID = "MZ" + "0" * 32


def _serializer(**params: object) -> TwilioFrameSerializer:
    return TwilioFrameSerializer(SID, params=TwilioSerializerParams(auto_hang_up=False, **params))


def _tone(rate: int, seconds: float) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 400 * t) * 8000).astype("<i2").tobytes()


def _media(ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode()
    return json.dumps({"event": "media", "streamSid": SID, "media": {"payload": payload}})


def test_auto_hang_up_needs_credentials_like_pipecat() -> None:
    with pytest.raises(ValueError, match="call_sid, account_sid, auth_token"):
        TwilioFrameSerializer(SID)
    with pytest.raises(ValueError, match="not both"):
        TwilioFrameSerializer(SID, "CA1", "AC1", "tok", api_key_sid="SK1", api_key_secret="s")
    with pytest.raises(ValueError, match="go together"):
        TwilioFrameSerializer(SID, "CA1", "AC1", api_key_sid="SK1")
    with pytest.raises(ValueError, match="region and edge"):
        TwilioFrameSerializer(SID, "CA1", "AC1", "tok", region="au1")
    TwilioFrameSerializer(SID, "CA1", "AC1", "tok")
    TwilioFrameSerializer(SID, "CA1", "AC1", "tok", region="au1", edge="sydney")
    assert TwilioFrameSerializer(SID, params=TwilioSerializerParams(auto_hang_up=False))
    params = TwilioSerializerParams()
    assert (params.twilio_sample_rate, params.sample_rate, params.auto_hang_up) == (
        8000,
        None,
        True,
    )
    assert params.ignore_rtvi_messages is True


async def test_media_in_becomes_input_audio_at_pipeline_rate() -> None:
    serializer = _serializer()
    await serializer.setup(StartFrame(audio_in_sample_rate=16000))
    ulaw = audio.ulaw_encode(_tone(8000, 0.02))
    frames = [await serializer.deserialize(_media(ulaw)) for _ in range(3)]
    assert all(isinstance(f, InputAudioRawFrame) for f in frames)
    assert [(f.sample_rate, f.num_channels, f.num_frames) for f in frames] == [(16000, 1, 320)] * 3


async def test_media_in_at_twilio_rate_is_plain_ulaw_decoding() -> None:
    serializer = _serializer(sample_rate=8000)
    await serializer.setup(StartFrame(audio_in_sample_rate=16000))  # configured rate wins
    ulaw = bytes(range(256))
    frame = await serializer.deserialize(_media(ulaw).encode())  # bytes are accepted too
    assert frame.audio == audio.ulaw_decode(ulaw)
    assert frame.sample_rate == 8000


async def test_audio_out_becomes_media_event() -> None:
    serializer = _serializer()
    pcm = _tone(8000, 0.02)
    text = await serializer.serialize(
        OutputAudioRawFrame(audio=pcm, sample_rate=8000, num_channels=1)
    )
    expected_payload = base64.b64encode(audio.ulaw_encode(pcm)).decode()
    assert text == (
        '{"event": "media", "streamSid": "' + SID + '", "media": {"payload": "'
        + expected_payload + '"}}'
    )  # fmt: skip
    # 20 ms at 24 kHz: 160 µ-law bytes per frame, every frame.
    pcm24 = _tone(24000, 0.02)
    for _ in range(3):
        frame = OutputAudioRawFrame(audio=pcm24, sample_rate=24000, num_channels=1)
        event = json.loads(await serializer.serialize(frame))
        assert len(base64.b64decode(event["media"]["payload"])) == 160


async def test_interruption_clear_messages_and_others() -> None:
    serializer = _serializer()
    assert json.loads(await serializer.serialize(InterruptionFrame())) == {
        "event": "clear",
        "streamSid": SID,
    }
    urgent = OutputTransportMessageUrgentFrame(message={"event": "mark", "x": 1})
    assert await serializer.serialize(urgent) == '{"event": "mark", "x": 1}'
    rtvi = OutputTransportMessageUrgentFrame(message={"label": "rtvi-ai"})
    assert await serializer.serialize(rtvi) is None
    assert await serializer.serialize(TextFrame(text="x")) is None
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(OutputTransportMessageUrgentFrame(message={1})) is None
    assert serializer.encode_errors == 1


async def test_other_events_are_ignored_and_bad_input_counted() -> None:
    serializer = _serializer()
    for event in ("connected", "start", "mark", "stop", "dtmf"):
        assert await serializer.deserialize(json.dumps({"event": event})) is None
    assert await serializer.deserialize(json.dumps({"event": "media", "media": {}})) is None
    assert serializer.decode_errors == 0
    for bad in ("{nope", "[1]", _media(b"").replace('""', '"!!"'), b"\xff"):
        assert await serializer.deserialize(bad) is None
    assert serializer.decode_errors == 4


async def test_idle_gap_restarts_the_input_resampler(autojump_clock: trio.abc.Clock) -> None:
    serializer = _serializer()
    await serializer.setup(StartFrame(audio_in_sample_rate=16000))
    loud = _media(audio.ulaw_encode(_tone(8000, 0.02)))

    async def leading_zeros() -> int:
        frame = await serializer.deserialize(loud)
        samples = np.frombuffer(frame.audio, "<i2")
        return int(np.argmax(samples != 0)) if samples.any() else len(samples)

    assert await leading_zeros() > 100  # a fresh stream starts with the filter's delay
    await leading_zeros()
    assert await leading_zeros() < 4  # a continuing stream carries on seamlessly
    await trio.sleep(0.5)  # longer than resampler_clear_after_secs (0.2)
    assert await leading_zeros() > 100


class _TwilioApi(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str]] = []
    status = 200
    body = b"{}"

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        form = self.rfile.read(length).decode()
        _TwilioApi.requests.append((self.path, self.headers["Authorization"], form))
        self.send_response(_TwilioApi.status)
        self.send_header("Content-Length", str(len(_TwilioApi.body)))
        self.end_headers()
        self.wfile.write(_TwilioApi.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def twilio_api() -> Iterator[str]:
    _TwilioApi.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TwilioApi)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_end_frame_hangs_up_once(twilio_api: str) -> None:
    serializer = TwilioFrameSerializer(SID, "CA7", "AC9", "secret", base_url=twilio_api + "/")
    assert await serializer.serialize(EndFrame()) is None
    assert await serializer.serialize(CancelFrame()) is None
    token = base64.b64encode(b"AC9:secret").decode()
    assert _TwilioApi.requests == [
        ("/2010-04-01/Accounts/AC9/Calls/CA7.json", f"Basic {token}", "Status=completed")
    ]


async def test_hang_up_failure_is_logged_not_raised(
    twilio_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    _TwilioApi.status, _TwilioApi.body = 500, b"boom"
    try:
        serializer = TwilioFrameSerializer(
            SID, "CA7", "AC9", api_key_sid="SK1", api_key_secret="s", base_url=twilio_api
        )
        assert await serializer.serialize(CancelFrame()) is None
    finally:
        _TwilioApi.status, _TwilioApi.body = 200, b"{}"
    assert "HTTP 500" in caplog.text
    assert _TwilioApi.requests[0][1] == "Basic " + base64.b64encode(b"SK1:s").decode()
