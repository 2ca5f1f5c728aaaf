"""Ready-made adapters: Pipecat bots (Twilio or protobuf wire) and adapters by protocol name."""

from __future__ import annotations

from typing import Any, Literal

from trio_pipe.testing.voice.protobuf import ProtobufFrameProtocol
from trio_pipe.testing.voice.protocols import RawPCMProtocol, WebSocketProtocol
from trio_pipe.testing.voice.twilio import TwilioMediaStreamProtocol
from trio_pipe.testing.voice.websocket import WebSocketAgentAdapter

__all__ = ["PROTOCOLS", "PipecatAgentAdapter", "adapter_for"]


class PipecatAgentAdapter(WebSocketAgentAdapter):
    """A Pipecat bot's WebSocket (``FastAPIWebsocketTransport``), or trio_pipe's own.

    ``wire="twilio"`` speaks Twilio Media Streams (the bot uses ``TwilioFrameSerializer``
    with ``auto_hang_up=False``); ``wire="protobuf"`` speaks Pipecat's protobuf frames
    (``ProtobufFrameSerializer``), sending at ``input_sample_rate``. Like Scenario's
    Pipecat adapter, audio goes out in 20 ms frames at the speed of speech.
    """

    def __init__(
        self,
        url: str,
        *,
        wire: Literal["twilio", "protobuf"] = "twilio",
        stream_sid: str | None = None,
        call_sid: str | None = None,
        input_sample_rate: int = 16000,
        frame_ms: int | None = 20,
        realtime: bool = True,
        **options: Any,
    ) -> None:
        protocol: WebSocketProtocol
        if wire == "twilio":
            protocol = TwilioMediaStreamProtocol(stream_sid=stream_sid, call_sid=call_sid)
        elif wire == "protobuf":
            protocol = ProtobufFrameProtocol(input_sample_rate=input_sample_rate)
        else:
            raise ValueError(f"wire must be 'twilio' or 'protobuf', got {wire!r}")
        self.wire = wire
        super().__init__(url, protocol, frame_ms=frame_ms, realtime=realtime, **options)


PROTOCOLS = ("protobuf", "twilio", "raw")


def adapter_for(
    url: str,
    protocol: str = "protobuf",
    *,
    in_rate: int = 16000,
    out_rate: int = 24000,
    frame_ms: int | None = 20,
    realtime: bool = True,
    **options: Any,
) -> WebSocketAgentAdapter:
    """An adapter for ``url`` by protocol name (what the pytest plugin and ``trio-pipe call``
    use): ``"protobuf"`` (Pipecat frames, sending at ``in_rate``), ``"twilio"`` (Media
    Streams) or ``"raw"`` (PCM16 at ``in_rate`` out, ``out_rate`` in).

    Audio goes out in ``frame_ms`` slices at the speed of speech unless told otherwise;
    other keyword options go to :class:`WebSocketAgentAdapter`.
    """
    if protocol == "raw":
        raw = RawPCMProtocol(in_rate=in_rate, out_rate=out_rate)
        return WebSocketAgentAdapter(url, raw, frame_ms=frame_ms, realtime=realtime, **options)
    if protocol not in ("protobuf", "twilio"):
        raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    return PipecatAgentAdapter(
        url, wire=protocol, input_sample_rate=in_rate, frame_ms=frame_ms, realtime=realtime,
        **options,
    )  # type: ignore[arg-type]  # fmt: skip
