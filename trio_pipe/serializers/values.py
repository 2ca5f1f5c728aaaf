"""Value codecs: the first layer of the JSON bus serializer (nothing in it is generated).

How one JSON value is checked and converted: floats as Python's ``json`` writes them
(:class:`ReprFloat`, :class:`NonFiniteFloat`), strict base64, the 64-bit guard for
integers orjson turned into floats, the field types of attrs classes and the converter
made once per non-scalar field. :mod:`trio_pipe.serializers.codegen` inlines these into
the generated hooks, and :mod:`trio_pipe.serializers.codec` walks open values with them.

The package reads in one direction: ``values`` -> ``codegen`` -> ``codec`` ->
``wire_names`` -> ``json_serializer``. The two protocols below are all that a lower
layer knows of the higher ones, so none of them imports back.

Errors carry a path that each level prepends on the way up, so the happy path pays nothing.
``budget`` counts how many more levels of JSON nesting a decoder may enter.
"""

from __future__ import annotations

import binascii
import contextvars
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Protocol

from trio_pipe.serializers.errors import (
    InvalidBase64Error,
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    UnknownEnumMemberError,
    WrongFieldTypeError,
)

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, int], Any]

_b64encode = binascii.b2a_base64
_b64decode = binascii.a2b_base64


class WireNames(Protocol):
    """What the value codecs and the code generator ask of a wire-name table
    (:class:`~trio_pipe.serializers.wire_names.WireRegistry` is one)."""

    converter: Any

    def wire_name_of(self, cls: type) -> str | None: ...

    def class_of(self, wire_name: str) -> type | None: ...

    def excluded_fields(self, cls: type) -> frozenset[str]: ...


class Walkers(Protocol):
    """The generic value walkers a generated hook calls for open values
    (:class:`~trio_pipe.serializers.codec.Codec` provides them)."""

    registry: WireNames
    enc_value: Encoder
    enc_dict: Encoder
    enc_list: Encoder
    dec_value: Decoder
    dec_tagged: Decoder
    dec_mapping: Decoder
    dec_list: Decoder


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


# --- field types -------------------------------------------------------------------------


def optional_inner(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); ``Any`` -> (Any, True); anything else -> (tp, False)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) < len(args):
            return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return tp, tp is Any or tp is object


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of ``cls``'s fields."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an unresolvable annotation: treat the fields as open (Any)
        return {}


def is_class(tp: Any) -> bool:
    """A concrete class annotation (not Any/object, not a generic alias)."""
    return isinstance(tp, type) and tp is not object and tp is not Any and not typing.get_args(tp)


def is_plain_enum(tp: Any) -> bool:
    """A str or int enum: written as its plain value."""
    return isinstance(tp, type) and issubclass(tp, enum.Enum) and issubclass(tp, str | int)


# --- encoding ------------------------------------------------------------------------


def enc_scalar(v: Any, tp: type, field: str) -> Any:
    """Slow path of a scalar field: accept subclasses (str/int enums), reject the rest."""
    try:
        if tp is float:
            if isinstance(v, float):
                return enc_float(float(v))
            if isinstance(v, int) and not isinstance(v, bool):
                return int.__index__(v)
        elif tp is bool:
            if isinstance(v, bool):
                return bool(v)
        elif isinstance(v, tp) and not isinstance(v, bool):
            return str.__str__(v) if tp is str else int.__index__(v)
    except MessageEncodeError as e:
        e.add_field(field)
        raise
    raise MessageEncodeError(f"expected {tp.__name__}, got {type(v).__qualname__}", [field])


def enc_typed(v: Any, tp: Any, enc_value: Encoder) -> Any:
    """Check ``v`` against a declared container or class type, then encode it."""
    origin = typing.get_origin(tp) or tp
    # Tuples go out as arrays, so a list field may hold one.
    if (
        isinstance(origin, type)
        and origin is not Any
        and not isinstance(v, origin)
        and not (origin is list and isinstance(v, tuple))
    ):
        raise MessageEncodeError(f"expected {origin.__name__}, got {type(v).__qualname__}")
    return enc_value(v)


def enum_encoder(tp: type[enum.Enum], wire: str | None, field: str) -> Encoder:
    if is_plain_enum(tp):
        values = {m: m._value_ for m in tp}  # plain values equal (and hash like) members

        def plain(v: Any) -> Any:
            try:
                out = values.get(v)
            except TypeError:
                out = None
            if out is None:
                raise MessageEncodeError(f"{v!r} is not a {tp.__name__}", [field])
            return str.__str__(out) if isinstance(out, str) else int.__index__(out)

        return plain

    def tagged(v: Any) -> Any:
        if v.__class__ is not tp:
            raise MessageEncodeError(f"expected {tp.__name__}, got {type(v).__qualname__}", [field])
        if wire is None:
            raise MessageEncodeError(f"enum {tp.__qualname__} is not registered", [field])
        return {"__type__": wire, "__data__": v._name_}

    return tagged


# --- decoding ------------------------------------------------------------------------


def value_decoder(codec: Walkers, tp: Any) -> Decoder:
    """A checker/converter for a field value of declared (non-scalar) type ``tp``."""
    dec_value, dec_tagged = codec.dec_value, codec.dec_tagged
    dec_mapping, dec_list = codec.dec_mapping, codec.dec_list
    origin = typing.get_origin(tp) or tp
    if is_plain_enum(tp):
        by_value = {m._value_: m for m in tp}
        base = str if issubclass(tp, str) else int

        def plain_enum(v: Any, budget: int) -> Any:
            m = by_value.get(v) if v.__class__ is base else None
            if m is None:
                raise UnknownEnumMemberError(f"{v!r} is not a {tp.__name__} value")
            return m

        return plain_enum
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        wire = codec.registry.wire_name_of(tp)
        members = dict(tp.__members__)

        def tagged_enum(v: Any, budget: int) -> Any:
            if v.__class__ is dict and v.get("__type__") == wire:
                name = v.get("__data__")
                m = members.get(name) if name.__class__ is str else None
                if m is not None:
                    return m
            return checked(v, budget)  # the slow path says exactly what is wrong

        checked = _tagged_class(dec_tagged, tp)
        return tagged_enum
    if tp is bytes:

        def tagged_bytes(v: Any, budget: int) -> Any:
            if v.__class__ is dict and v.get("__type__") == "bytes" and "__data__" in v:
                return dec_bytes(v["__data__"])
            raise wrong_type(v, "a tagged bytes value")

        return tagged_bytes
    if origin is dict:

        def mapping(v: Any, budget: int) -> Any:
            if v.__class__ is not dict:
                raise wrong_type(v, "an object")
            return dec_mapping(v, budget)

        return mapping
    if origin is list:
        args = typing.get_args(tp)
        item = _item_check(args[0]) if args else None
        label = getattr(args[0], "__name__", str(args[0])) if args else "item"

        def sequence(v: Any, budget: int) -> Any:
            if v.__class__ is not list:
                raise wrong_type(v, "an array")
            v = dec_list(v, budget)
            if item is not None:
                for i, x in enumerate(v):
                    if not item(x):
                        e = wrong_type(x, label)
                        e.add_index(i)
                        raise e
            return v

        return sequence
    if is_class(tp):
        return _tagged_class(dec_tagged, tp)
    return dec_value


def _tagged_class(dec_tagged: Callable[[Any, int], Any], want: type) -> Decoder:
    def tagged(v: Any, budget: int) -> Any:
        if v.__class__ is not dict or "__type__" not in v or "__data__" not in v:
            raise wrong_type(v, f"a tagged {want.__name__}")
        if budget <= 0:
            raise MessageNestingError("nested too deeply")
        out = dec_tagged(v, budget)
        if not isinstance(out, want):
            raise WrongFieldTypeError(f"expected {want.__name__}, got {type(out).__name__}")
        return out

    return tagged


def _item_check(tp: Any) -> Callable[[Any], bool] | None:
    """An element test for ``list[tp]`` (after the generic walk), or None for open items."""
    tp, optional = optional_inner(tp)
    if not is_class(tp):
        return None
    if tp is int:
        return lambda x: x.__class__ is int or (optional and x is None)
    return lambda x: (
        (isinstance(x, tp) and (tp is bool or x.__class__ is not bool)) or (optional and x is None)
    )
