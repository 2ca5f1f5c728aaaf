"""Serializers: frames to and from transport payloads, bus messages to and from JSON.

Frames: ``base_serializer`` (the interface), ``protobuf``, ``raw``, ``twilio`` (``frames``
re-exports them). Bus messages, in the order they build on each other: ``values`` (value
codecs) -> ``codegen`` (generated per-class hooks) -> ``codec`` -> ``wire_names`` (the
closed table of wire names) -> ``json_serializer``. ``messages`` and ``registry`` are the
old module names, kept as re-exports.

The bus message side is exported here: :class:`JSONMessageSerializer` (Pipecat 1.14's JSON
bus format), its closed registry of wire names (:func:`register`) and its typed errors.
"""

from trio_pipe.serializers.errors import (
    InvalidBase64Error,
    MalformedMessageError,
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    MessageTooLargeError,
    MissingFieldError,
    NotABusMessageError,
    UnknownEnumMemberError,
    UnknownMessageTypeError,
    WrongFieldTypeError,
)
from trio_pipe.serializers.json_serializer import (
    DEFAULT_MAX_SIZE,
    JSONMessageSerializer,
    MessageSerializer,
)
from trio_pipe.serializers.wire_names import (
    WireRegistry,
    _load_builtin_extensions,
    default_registry,
    register,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "InvalidBase64Error",
    "JSONMessageSerializer",
    "MalformedMessageError",
    "MessageDecodeError",
    "MessageEncodeError",
    "MessageNestingError",
    "MessageSerializer",
    "MessageTooLargeError",
    "MissingFieldError",
    "NotABusMessageError",
    "UnknownEnumMemberError",
    "UnknownMessageTypeError",
    "WireRegistry",
    "WrongFieldTypeError",
    "default_registry",
    "register",
]

# Last: modules such as trio_pipe.bus.ui register their classes at import, and may import
# any of the names above while doing so.
_load_builtin_extensions()
