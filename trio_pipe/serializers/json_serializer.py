"""Bus message serializers: the abstract :class:`MessageSerializer` and the default
:class:`JSONMessageSerializer`, which speaks Pipecat 1.14's JSON bus format byte for byte.

Wire format (``docs/migrating-from-pipecat.md`` lists where trio_pipe is stricter)::

    {"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"id":1,
     "name":"BusJobResponseMessage#0","source":"worker","target":"voice","job_id":"j-1",
     "status":"completed","response":{"ok":true}}}

Compact separators, ASCII only (``\\uXXXX`` escapes, surrogate pairs above the BMP),
fields in declaration order, None fields left out, bytes as a ``bytes`` tag with padded
base64, str/int enums as their value, other enums as a tag with the member name.

Speed: the generated per-class hooks build plain dicts and lists, orjson writes them, and
only output that holds non-ASCII characters (or DEL) takes a second, C-speed pass to escape
them as ``json.dumps`` would. Values orjson cannot write (integers beyond 64 bits, lone
surrogates) fall back to the standard library's C encoder, which gives the same bytes.

Lossless interop (what Pipecat's ``json`` reads, we read the same way): orjson parses
every message first. What it refuses (``NaN``, ``Infinity`` and ``-Infinity``, which
Python's ``json`` writes for non-finite floats) is parsed again with the standard
library, so those arrive as the same floats Pipecat gets. orjson silently turns integers
beyond 64 bits into floats, so a decoded float of 2**63 or more in magnitude (or a float
where an integer field expects an integer) makes the message parse again with the
standard library, and ``2**70 + 1`` arrives exact. Both fallbacks cost nothing on
messages without them (one comparison per float value).

Encoding NaN and infinities: refused by default (``MessageEncodeError``; strict JSON
has no such values and other JSON peers reject them). ``allow_nan=True`` (on the
serializer, or on its registry) writes them as Pipecat does (``NaN``, ``Infinity``).
"""

from __future__ import annotations

import abc
import codecs
import json
from typing import Any

import orjson

from trio_pipe.bus.messages import BusLocalMessage, BusMessage
from trio_pipe.serializers.errors import (
    MalformedMessageError,
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    MessageTooLargeError,
    NotABusMessageError,
    UnknownMessageTypeError,
    WrongFieldTypeError,
)
from trio_pipe.serializers.values import (
    DEFAULT_MAX_DEPTH,
    Decoder,
    Encoder,
    MaybeLossyNumber,
    NonFiniteFloat,
    NonFiniteFloatError,
    ReprFloat,
    allow_non_finite,
    exact_numbers,
)
from trio_pipe.serializers.wire_names import WireRegistry, default_registry

__all__ = ["DEFAULT_MAX_SIZE", "JSONMessageSerializer", "MessageSerializer"]

#: Largest message ``deserialize`` accepts by default: 8 MiB.
DEFAULT_MAX_SIZE = 8 * 1024 * 1024


class MessageSerializer(abc.ABC):
    """Turns bus messages into bytes and back, for buses and proxies between processes."""

    @abc.abstractmethod
    def serialize(self, message: BusMessage) -> bytes:
        """Encode ``message``. Raises :class:`MessageEncodeError` if it cannot go on the wire."""

    @abc.abstractmethod
    def deserialize(self, data: bytes) -> BusMessage:
        """Decode one message. Raises a :class:`MessageDecodeError` subclass; never returns None."""


def _escape_non_ascii(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: ``\\uXXXX`` escapes exactly as ``json.dumps(ensure_ascii=True)``."""
    assert isinstance(err, UnicodeEncodeError)
    out = []
    for ch in err.object[err.start : err.end]:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 | (cp >> 10):04x}\\u{0xDC00 | (cp & 0x3FF):04x}")
        else:
            out.append(f"\\u{cp:04x}")
    return "".join(out), err.end


_ESCAPE = "trio_pipe.json_ascii"
codecs.register_error(_ESCAPE, _escape_non_ascii)


def _orjson_default(value: Any) -> Any:
    if value.__class__ is ReprFloat:
        return orjson.Fragment(float.__repr__(value).encode())
    if value.__class__ is NonFiniteFloat:
        return orjson.Fragment(value.literal())
    raise TypeError(type(value).__qualname__)


_dumps = orjson.dumps
_loads = orjson.loads
_stdlib_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=True, allow_nan=False, check_circular=False
).encode
_stdlib_encode_lenient = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=True, allow_nan=True, check_circular=False
).encode
_stdlib_loads = json.loads


def _write(obj: Any, stdlib_encode: Any) -> bytes:
    """JSON bytes of an encoded message, exactly as Python's ``json.dumps`` writes them."""
    try:
        out = _dumps(obj, default=_orjson_default)
    except orjson.JSONEncodeError:
        return stdlib_encode(obj).encode("ascii")
    if not out.isascii():
        out = out.decode("utf-8").encode("ascii", _ESCAPE)
    if b"\x7f" in out:  # json escapes DEL, orjson does not; it can only be inside a string
        out = out.replace(b"\x7f", b"\\u007f")
    return out


def _loads_like_pipecat(data: bytes | bytearray | memoryview | str, orjson_error: Any) -> Any:
    """Parse with Python's ``json`` (what Pipecat uses): NaN/Infinity, exact big integers."""
    try:
        return _stdlib_loads(bytes(data) if data.__class__ is memoryview else data)
    except RecursionError:
        raise MessageNestingError("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = orjson_error if orjson_error is not None else exc
        raise MalformedMessageError(f"not valid JSON: {reason}") from None


class JSONMessageSerializer(MessageSerializer):
    """Pipecat 1.14's JSON bus wire format, with a closed registry and typed errors.

    Args:
        registry: where wire names are resolved; the process-wide default registry
            (standard messages, frames, and whatever was registered) when None.
        max_size: the largest input ``deserialize`` accepts, in bytes (8 MiB).
        max_depth: the deepest JSON nesting ``deserialize`` accepts (64).
        allow_nan: write NaN and infinities as Pipecat does (``NaN``, ``Infinity``:
            not JSON); None (default) takes the registry's ``allow_nan`` (False unless
            set). Reading them is always allowed, as in Pipecat.

    Decoding never imports a module and never builds a class outside the registry. It
    keeps ``id`` and ``name`` from the wire (fresh ones when absent), decodes ``status``
    to :class:`~trio_pipe.bus.messages.JobStatus`, and ignores unknown keys (debug log).
    """

    def __init__(
        self,
        *,
        registry: WireRegistry | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        max_depth: int = DEFAULT_MAX_DEPTH,
        allow_nan: bool | None = None,
    ) -> None:
        if max_size < 1 or max_depth < 2:
            raise ValueError("max_size must be >= 1 and max_depth >= 2")
        self._registry = registry if registry is not None else default_registry()
        self._codec = self._registry.codec
        self.max_size = max_size
        self.max_depth = max_depth
        self._allow_nan = allow_nan
        # Top-level hooks, cached per serializer: only BusMessage classes get in here.
        self._top_encoders: dict[type, Encoder] = {}
        self._top_decoders: dict[str, tuple[Decoder, str]] = {}

    @property
    def allow_nan(self) -> bool:
        """Whether NaN and infinities are written (as Pipecat writes them) or refused."""
        return self._registry.allow_nan if self._allow_nan is None else self._allow_nan

    @property
    def registry(self) -> WireRegistry:
        """The registry this serializer resolves wire names in."""
        return self._registry

    @property
    def converter(self) -> Any:
        """The ``cattrs.Converter`` holding the generated hooks (tagged dicts, no JSON)."""
        return self._registry.converter

    def register(self, cls: Any = None, wire_name: str | None = None, **kwargs: Any) -> Any:
        """Register an application class in this serializer's registry (see ``register``)."""
        return self._registry.register(cls, wire_name, **kwargs)

    # --- encoding ------------------------------------------------------------------------

    def serialize(self, message: BusMessage) -> bytes:
        """Encode ``message`` as compact, ASCII-only JSON bytes."""
        fn = self._top_encoders.get(message.__class__)
        if fn is None:
            fn = self._top_encoder(message)
        try:
            obj = fn(message)
        except NonFiniteFloatError as e:
            if not self.allow_nan:
                e.path.insert(0, message.__class__.__name__)
                raise
            return _write(self._encode_lenient(fn, message), _stdlib_encode_lenient)
        except MessageEncodeError as e:
            e.path.insert(0, message.__class__.__name__)
            raise
        except RecursionError:
            raise MessageEncodeError(
                "nested too deeply (or a container holds itself)", [message.__class__.__name__]
            ) from None
        return _write(obj, _stdlib_encode)

    def _encode_lenient(self, fn: Encoder, message: BusMessage) -> Any:
        """Encode again, with NaN and infinities kept (written as ``json.dumps`` does)."""
        token = allow_non_finite.set(True)
        try:
            return fn(message)
        except MessageEncodeError as e:
            e.path.insert(0, message.__class__.__name__)
            raise
        finally:
            allow_non_finite.reset(token)

    def _top_encoder(self, message: Any) -> Encoder:
        cls = type(message)
        if not isinstance(message, BusMessage):
            raise MessageEncodeError(f"{cls.__qualname__} is not a BusMessage")
        if isinstance(message, BusLocalMessage):
            raise MessageEncodeError(
                f"{cls.__name__} is a local message; it never leaves the process"
            )
        fn = self._codec.encoder_for(cls)
        self._top_encoders[cls] = fn
        return fn

    # --- decoding ------------------------------------------------------------------------

    def deserialize(self, data: bytes | bytearray | memoryview | str) -> BusMessage:
        """Decode one message; every failure is a :class:`MessageDecodeError` subclass."""
        if len(data) > self.max_size:
            raise MessageTooLargeError(
                f"message of {len(data)} bytes is over the limit of {self.max_size}"
            )
        try:
            obj = _loads(data)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc) or "recursion" in str(exc):
                raise MessageNestingError(f"nested too deeply: {exc}") from None
            obj = _loads_like_pipecat(data, exc)  # NaN / Infinity, as Python's json reads
        try:
            return self._decode(obj)
        except (MaybeLossyNumber, WrongFieldTypeError):
            # orjson may have made a float of an integer beyond 64 bits: parse as Pipecat
            # does and decode again; if it still fails, that is the error to report.
            token = exact_numbers.set(True)
            try:
                return self._decode(_loads_like_pipecat(data, None))
            finally:
                exact_numbers.reset(token)

    def _decode(self, obj: Any) -> BusMessage:
        if obj.__class__ is not dict or "__type__" not in obj or "__data__" not in obj:
            raise NotABusMessageError('expected {"__type__": ..., "__data__": {...}} at the top')
        tag = obj["__type__"]
        entry = self._top_decoders.get(tag) if tag.__class__ is str else None
        if entry is None:
            entry = self._top_decoder(tag)
        fn, label = entry
        try:
            return fn(obj["__data__"], self.max_depth - 1)
        except MessageDecodeError as e:
            e.path.insert(0, label)
            raise
        except RecursionError:
            raise MessageNestingError("nested too deeply", [label]) from None

    def _top_decoder(self, tag: Any) -> tuple[Decoder, str]:
        cls = self._registry.class_of(tag) if isinstance(tag, str) else None
        if cls is None:
            raise UnknownMessageTypeError(f"unknown message type {tag!r}")
        if not (isinstance(cls, type) and issubclass(cls, BusMessage)):
            raise NotABusMessageError(f"{tag!r} is not a bus message")
        entry = (self._codec.decoder_for(tag), cls.__name__)
        self._top_decoders[tag] = entry
        return entry
