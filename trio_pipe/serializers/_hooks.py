"""The JSON value walkers and the per-registry hook table (:class:`Codec`).

A :class:`Codec` belongs to one :class:`~trio_pipe.serializers.registry.WireRegistry`. It
holds the generic walkers for values of open types (``Any``, ``dict``, ``list``) and the
table of per-class hooks, which :mod:`trio_pipe.serializers._codegen` generates from the
attrs classes and the registry's ``cattrs.Converter`` caches.

Errors carry a path that each level prepends on the way up, so the happy path pays nothing.
``budget`` counts how many more levels of JSON nesting a decoder may enter.
"""

from __future__ import annotations

import binascii
import contextvars
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from trio_pipe.bus.messages import BusLocalMessage
from trio_pipe.serializers.errors import (
    InvalidBase64Error,
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    UnknownEnumMemberError,
    UnknownMessageTypeError,
    WrongFieldTypeError,
)

if TYPE_CHECKING:
    from trio_pipe.serializers.registry import WireRegistry

logger = logging.getLogger(__name__)

#: How many levels of JSON nesting a message may use by default (the message object is 1).
DEFAULT_MAX_DEPTH = 64

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, int], Any]

_b64encode = binascii.b2a_base64
_b64decode = binascii.a2b_base64


class ReprFloat(float):
    """A float that orjson must write the way ``json`` (and so Pipecat) does.

    orjson and ``float.__repr__`` agree on every finite float except those below 1e-4 in
    magnitude (``0.00001`` against ``1e-05``); those are wrapped in this class, which
    orjson hands to the serializer's ``default`` hook. ``json`` writes it like any float.
    """

    __slots__ = ()


class NonFiniteFloat(float):
    """NaN or an infinity that a lenient serializer writes as ``json.dumps`` does
    (``NaN``, ``Infinity``, ``-Infinity``: not JSON, but what Pipecat writes and reads)."""

    __slots__ = ()

    def literal(self) -> bytes:
        """The token ``json.dumps`` writes for this value."""
        if self != self:
            return b"NaN"
        return b"Infinity" if self > 0 else b"-Infinity"


#: Set (only for one encode) by a serializer configured with ``allow_nan``.
allow_non_finite: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "trio_pipe_allow_non_finite", default=False
)


class NonFiniteFloatError(MessageEncodeError):
    """A NaN or infinity, which strict JSON cannot carry (see ``allow_nan``)."""


#: orjson turns integers it cannot hold (beyond 64 bits) into floats, all at least this big.
INT64_LIMIT = 9.223372036854775807e18

#: Set while a message parsed by Python's ``json`` is decoded: its big floats are floats.
exact_numbers: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "trio_pipe_exact_numbers", default=False
)


class MaybeLossyNumber(MessageDecodeError):
    """Internal: a float so big that orjson may have made it from an exact integer; the
    serializer parses the message again with Python's ``json`` (never escapes it)."""


def check_big_float(v: float) -> None:
    """Raise :class:`MaybeLossyNumber` for a float orjson may have made from a big int."""
    if (v >= INT64_LIMIT or v <= -INT64_LIMIT) and not exact_numbers.get():
        raise MaybeLossyNumber("a number beyond 64 bits")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def wrong_type(value: Any, expected: str, field: str | None = None) -> WrongFieldTypeError:
    """The error for a value of the wrong JSON type (at ``field``, when given)."""
    return WrongFieldTypeError(
        f"expected {expected}, got {_type_name(value)}", [field] if field else None
    )


def enc_float(v: float) -> float:
    """Check a float for the wire: finite, and formatted as ``json`` would."""
    if v - v != 0.0:
        if allow_non_finite.get():
            return NonFiniteFloat(v)
        raise NonFiniteFloatError(
            f"non-finite float {v!r} is not valid JSON (allow_nan=True writes it as Pipecat does)"
        )
    if -1e-4 < v < 1e-4 and v != 0.0:
        return ReprFloat(v)
    return v


def dec_bytes(data: Any) -> bytes:
    """Strict base64 (standard alphabet, padded, nothing else) to bytes."""
    if data.__class__ is not str:
        raise wrong_type(data, "a base64 string")
    try:
        return _b64decode(data, strict_mode=True)
    except ValueError as exc:
        raise InvalidBase64Error(f"invalid base64: {exc}") from None


class Codec:
    """Per-registry generated hooks and the generic value walkers they call."""

    def __init__(self, registry: WireRegistry) -> None:
        self.registry = registry
        self.encoders: dict[type, Encoder] = {}
        self.decoders: dict[str, Decoder] = {}
        self._build_walkers()

    # --- generic values ------------------------------------------------------------------

    def _build_walkers(self) -> None:
        encoders = self.encoders
        decoders = self.decoders
        encoder_for = self.encoder_for
        decoder_for = self.decoder_for

        def enc_value(v: Any) -> Any:
            c = v.__class__
            if c is str or c is int or c is bool or v is None:
                return v
            if c is float:
                return enc_float(v)
            if c is dict:
                return enc_dict(v)
            if c is list or c is tuple:
                return enc_list(v)
            if c is bytes:
                return {"__type__": "bytes", "__data__": _b64encode(v, newline=False).decode()}
            fn = encoders.get(c)
            if fn is None:
                return enc_other(v)
            return fn(v)

        def enc_dict(d: dict[Any, Any]) -> dict[str, Any]:
            out = {}
            for k, v in d.items():
                if k.__class__ is not str:
                    k = enc_key(k)
                c = v.__class__
                if c is str or c is int or c is bool or v is None:
                    out[k] = v
                    continue
                try:
                    if c is float:
                        out[k] = enc_float(v)
                    elif c is dict:
                        out[k] = enc_dict(v)
                    elif c is list:
                        out[k] = enc_list(v)
                    else:
                        out[k] = enc_value(v)
                except MessageEncodeError as e:
                    e.add_key(k)
                    raise
            return out

        def enc_list(lst: list[Any] | tuple[Any, ...]) -> list[Any]:
            out: list[Any] = []
            append = out.append
            for v in lst:
                c = v.__class__
                if c is str or c is int or c is bool or v is None:
                    append(v)
                    continue
                try:
                    append(enc_value(v))
                except MessageEncodeError as e:
                    e.add_index(len(out))
                    raise
            return out

        def enc_other(v: Any) -> Any:
            if isinstance(v, enum.Enum):
                if isinstance(v, str | int):
                    return v._value_
                wire = self.registry.wire_name_of(type(v))
                if wire is None:
                    raise MessageEncodeError(f"enum {type(v).__qualname__} is not registered")
                return {"__type__": wire, "__data__": v._name_}
            if isinstance(v, bool):
                return bool(v)
            if isinstance(v, str):
                return str.__str__(v)
            if isinstance(v, int):
                return int.__index__(v)
            if isinstance(v, float):
                return enc_float(float(v))
            if isinstance(v, dict):
                return enc_dict(v)
            if isinstance(v, list | tuple):
                return enc_list(v)
            if isinstance(v, bytearray | memoryview):
                return enc_value(bytes(v))
            if isinstance(v, BusLocalMessage):
                raise MessageEncodeError(
                    f"{type(v).__name__} is a local message; it never leaves the process"
                )
            if attrs.has(type(v)) and self.registry.wire_name_of(type(v)) is not None:
                return encoder_for(type(v))(v)
            if isinstance(v, set | frozenset):
                raise MessageEncodeError("a set cannot be encoded; use a list")
            if attrs.has(type(v)):
                raise MessageEncodeError(
                    f"{type(v).__qualname__} is not registered; "
                    "register it with trio_pipe.serializers.register()"
                )
            raise MessageEncodeError(f"cannot encode a value of type {type(v).__qualname__}")

        def enc_key(k: Any) -> str:
            if isinstance(k, str):
                return str.__str__(k)
            raise MessageEncodeError(f"dict key {k!r} is not a string")

        def dec_value(v: Any, budget: int) -> Any:
            c = v.__class__
            if c is dict:
                return dec_dict(v, budget)
            if c is list:
                return dec_list(v, budget)
            if c is float and (v >= INT64_LIMIT or v <= -INT64_LIMIT):
                check_big_float(v)
            return v

        def dec_dict(d: dict[str, Any], budget: int) -> Any:
            if budget <= 0:
                raise MessageNestingError("nested too deeply")
            if "__type__" in d and "__data__" in d:
                return dec_tagged(d, budget)
            return dec_mapping(d, budget)

        def dec_mapping(d: dict[str, Any], budget: int) -> dict[str, Any]:
            # In place: orjson built these containers for us alone.
            if budget <= 0:
                raise MessageNestingError("nested too deeply")
            budget -= 1
            for k, v in d.items():
                c = v.__class__
                if c is dict:
                    try:
                        d[k] = dec_dict(v, budget)
                    except MessageDecodeError as e:
                        e.add_key(k)
                        raise
                elif c is list:
                    try:
                        d[k] = dec_list(v, budget)
                    except MessageDecodeError as e:
                        e.add_key(k)
                        raise
                elif c is float and (v >= INT64_LIMIT or v <= -INT64_LIMIT):
                    check_big_float(v)
            return d

        def dec_list(lst: list[Any], budget: int) -> list[Any]:
            if budget <= 0:
                raise MessageNestingError("nested too deeply")
            budget -= 1
            for i, v in enumerate(lst):
                c = v.__class__
                if c is dict or c is list:
                    try:
                        lst[i] = dec_dict(v, budget) if c is dict else dec_list(v, budget)
                    except MessageDecodeError as e:
                        e.add_index(i)
                        raise
                elif c is float and (v >= INT64_LIMIT or v <= -INT64_LIMIT):
                    check_big_float(v)
            return lst

        def dec_tagged(d: dict[str, Any], budget: int) -> Any:
            tag = d["__type__"]
            data = d["__data__"]
            if tag == "bytes":
                return dec_bytes(data)
            fn = decoders.get(tag) if tag.__class__ is str else None
            if fn is None:
                fn = decoder_for(tag)
            return fn(data, budget - 1)

        self.enc_value = enc_value
        self.enc_dict = enc_dict
        self.enc_list = enc_list
        self.dec_value = dec_value
        self.dec_tagged = dec_tagged
        self.dec_mapping = dec_mapping
        self.dec_list = dec_list

    # --- per-class hooks -----------------------------------------------------------------

    def encoder_for(self, cls: type) -> Encoder:
        """The encoder of a registered class (generated on first use)."""
        fn = self.encoders.get(cls)
        if fn is None:
            if self.registry.wire_name_of(cls) is None:
                raise MessageEncodeError(
                    f"{cls.__qualname__} is not registered; "
                    "register it with trio_pipe.serializers.register()"
                )
            fn = self.registry.converter.get_unstructure_hook(cls)
            self.encoders[cls] = fn
        return fn

    def decoder_for(self, tag: Any) -> Decoder:
        """The decoder for a wire tag; an unknown tag raises UnknownMessageTypeError."""
        fn = self.decoders.get(tag) if isinstance(tag, str) else None
        if fn is not None:
            return fn
        cls = self.registry.class_of(tag) if isinstance(tag, str) else None
        if cls is None:
            raise UnknownMessageTypeError(f"unknown type tag {tag!r}")
        if issubclass(cls, enum.Enum):
            fn = self._enum_decoder(cls)
        else:
            hook = self.registry.converter.get_structure_hook(cls)
            fn = hook.trio_pipe_decoder  # type: ignore[attr-defined]
        self.decoders[tag] = fn
        return fn

    @staticmethod
    def _enum_decoder(cls: type[enum.Enum]) -> Decoder:
        members = dict(cls.__members__)

        def decode(data: Any, budget: int) -> Any:
            if data.__class__ is not str:
                raise wrong_type(data, f"a {cls.__name__} member name")
            try:
                return members[data]
            except KeyError:
                raise UnknownEnumMemberError(f"{cls.__name__} has no member {data!r}") from None

        return decode

    def make_encoder(self, cls: type) -> Encoder:
        """Generate the encoder of attrs class ``cls`` (a cattrs unstructure hook)."""
        from trio_pipe.serializers._codegen import make_encoder

        return make_encoder(self, cls)

    def make_decoder(self, cls: type) -> Decoder:
        """Generate the decoder of attrs class ``cls`` (behind its cattrs structure hook)."""
        from trio_pipe.serializers._codegen import make_decoder

        return make_decoder(self, cls)
