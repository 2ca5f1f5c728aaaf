"""Frame serializers: what a transport sends for a frame and which frame a message is.

One import point for every frame serializer (each lives in its own module, named as in
Pipecat):

* :class:`FrameSerializer` (``base_serializer``): the interface and its params;
* :class:`ProtobufFrameSerializer` (``protobuf``): Pipecat 1.14's binary format, byte for byte;
* :class:`RawPCMSerializer` (``raw``): bare PCM16 audio, for tests and simple peers;
* :class:`TwilioFrameSerializer` (``twilio``): Twilio Media Streams (µ-law 8 kHz JSON).
"""

from __future__ import annotations

from trio_pipe.serializers.base_serializer import (
    RTVI_MESSAGE_LABEL,
    FrameSerializer,
    FrameSerializerParams,
)
from trio_pipe.serializers.protobuf import ProtobufFrameSerializer
from trio_pipe.serializers.raw import RawPCMSerializer
from trio_pipe.serializers.twilio import TwilioFrameSerializer, TwilioSerializerParams

__all__ = [
    "RTVI_MESSAGE_LABEL",
    "FrameSerializer",
    "FrameSerializerParams",
    "ProtobufFrameSerializer",
    "RawPCMSerializer",
    "TwilioFrameSerializer",
    "TwilioSerializerParams",
]
