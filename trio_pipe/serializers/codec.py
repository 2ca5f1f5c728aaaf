"""The codec: generic JSON value walkers and the per-registry table of generated hooks.

A :class:`Codec` belongs to one :class:`~trio_pipe.serializers.wire_names.WireRegistry`. It
holds the generic walkers for values of open types (``Any``, ``dict``, ``list``) and the
table of per-class hooks, which :mod:`trio_pipe.serializers.codegen` generates from the
attrs classes and the registry's ``cattrs.Converter`` caches. It sits above the value
codecs and the code generator and below the wire-name table that owns it.

Errors carry a path that each level prepends on the way up, so the happy path pays nothing.
``budget`` counts how many more levels of JSON nesting a decoder may enter.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from trio_pipe.bus.messages import BusLocalMessage
from trio_pipe.serializers import codegen
from trio_pipe.serializers.errors import (
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    UnknownEnumMemberError,
    UnknownMessageTypeError,
)
from trio_pipe.serializers.values import (
    INT64_LIMIT,
    Decoder,
    Encoder,
    WireNames,
    _b64encode,
    check_big_float,
    dec_bytes,
    enc_float,
    wrong_type,
)


class Codec:
    """Per-registry generated hooks and the generic value walkers they call."""

    def __init__(self, registry: WireNames) -> None:
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
        return codegen.make_encoder(self, cls)

    def make_decoder(self, cls: type) -> Decoder:
        """Generate the decoder of attrs class ``cls`` (behind its cattrs structure hook)."""
        return codegen.make_decoder(self, cls)
