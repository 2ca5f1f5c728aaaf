"""Field types of attrs classes and the value converters the generated hooks call.

:mod:`trio_pipe.serializers._codegen` inlines the checks for scalar fields; everything
else (enums, bytes, containers, nested registered classes) goes through a converter made
here once per field when a hook is generated.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trio_pipe.serializers._hooks import Decoder, Encoder, dec_bytes, enc_float, wrong_type
from trio_pipe.serializers.errors import (
    MessageEncodeError,
    MessageNestingError,
    UnknownEnumMemberError,
    WrongFieldTypeError,
)

if TYPE_CHECKING:
    from trio_pipe.serializers._hooks import Codec


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


def value_decoder(codec: Codec, tp: Any) -> Decoder:
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
