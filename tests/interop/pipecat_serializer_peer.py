"""Runs under Pipecat 1.14's interpreter (PIPECAT_PYTHON), not trio_pipe's.

Reads one JSON request on stdin and prints one JSON answer:

* ``serialize``: frame specs -> hex bytes from Pipecat's ProtobufFrameSerializer;
* ``deserialize``: hex payloads -> what Pipecat decodes them to (None when it returns
  None, ``{"raises": "<ExceptionClass>"}`` when it raises);
* ``schema``: Pipecat's frames.proto as (message, field, number, type, has_presence);
* ``twilio``: the same both ways through TwilioFrameSerializer at 8 kHz.

A frame spec is ``{"cls": name, "args": {...}, "set": {...}}``; ``audio`` values are hex.
"""

from __future__ import annotations

import asyncio
import json
import sys

from loguru import logger

logger.remove()  # keep stdout/stderr for the answer

import pipecat.frames.frames as pipecat_frames  # noqa: E402
from pipecat.frames.protobufs import frames_pb2  # noqa: E402
from pipecat.serializers.protobuf import ProtobufFrameSerializer  # noqa: E402
from pipecat.serializers.twilio import TwilioFrameSerializer  # noqa: E402


def build(spec: dict) -> object:
    args = dict(spec.get("args", {}))
    if "audio" in args:
        args["audio"] = bytes.fromhex(args["audio"])
    frame = getattr(pipecat_frames, spec["cls"])(**args)
    for name, value in spec.get("set", {}).items():
        setattr(frame, name, value)
    return frame


def describe(frame: object) -> dict | None:
    if frame is None:
        return None
    out = {"cls": type(frame).__name__, "id": frame.id, "name": frame.name, "pts": frame.pts}
    for field in ("text", "user_id", "timestamp", "sample_rate", "num_channels", "num_frames"):
        if hasattr(frame, field):
            out[field] = getattr(frame, field)
    if hasattr(frame, "audio"):
        out["audio"] = frame.audio.hex()
    if hasattr(frame, "message"):
        out["message"] = frame.message
    return out


async def main() -> None:
    request = json.load(sys.stdin)
    serializer = ProtobufFrameSerializer()
    answer: dict = {}
    serialized = []
    for spec in request.get("serialize", []):
        data = await serializer.serialize(build(spec))
        serialized.append(None if data is None else data.hex())
    answer["serialize"] = serialized
    decoded = []
    for payload in request.get("deserialize", []):
        try:
            decoded.append(describe(await serializer.deserialize(bytes.fromhex(payload))))
        except Exception as error:
            decoded.append({"raises": type(error).__name__})
    answer["deserialize"] = decoded
    answer["schema"] = [
        [message.name, field.name, field.number, field.type, field.has_presence]
        for message in frames_pb2.DESCRIPTOR.message_types_by_name.values()
        for field in message.fields
        if not field.containing_oneof or field.containing_oneof.name != "frame"
    ] + [
        [message.name, field.name, field.number, field.message_type.name, False]
        for message in frames_pb2.DESCRIPTOR.message_types_by_name.values()
        for field in message.fields
        if field.containing_oneof and field.containing_oneof.name == "frame"
    ]
    if "twilio" in request:
        # Twilio at the pipeline rate 8000 (no resampling), no hang-up.
        spec = request["twilio"]
        twilio = TwilioFrameSerializer(
            spec["stream_sid"],
            params=TwilioFrameSerializer.InputParams(sample_rate=8000, auto_hang_up=False),
        )
        await twilio.setup(None)
        answer["twilio_serialize"] = [
            await twilio.serialize(build(frame)) for frame in spec["serialize"]
        ]
        answer["twilio_deserialize"] = [
            describe(await twilio.deserialize(text)) for text in spec["deserialize"]
        ]
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
