"""Code generation: each registered attrs class's encoder and decoder (its cattrs hooks).

From ``attrs.fields(cls)`` and the resolved field types this writes two straight-line
Python functions per class, the way attrs and cattrs generate theirs:

* ``encode(obj) -> {"__type__": wire, "__data__": {...}}``: fields in declaration order,
  None left out, each value checked against its declared type;
* ``decode(data, budget) -> obj``: every field checked strictly, ``id`` and ``name`` taken
  from the wire (fresh ones when absent), unknown keys ignored, nothing undeclared set.

cattrs' own ``make_dict_unstructure_fn`` is not used: it skips ``init=False`` fields
(``id``, ``name``) unless asked (``_cattrs_include_init_false``, cattrs 23.2 and later),
and it moves omittable fields to the end, which changes the bytes.
Its structure functions call the constructor, which would draw fresh ids only to throw
them away. Decoders therefore build objects without ``__init__`` when the constructor does
nothing else (messages), or replay exactly what it does (frames); any other class goes
through its constructor. Print ``hook.__trio_pipe_source__`` to read a generated function.
"""

from __future__ import annotations

import enum
import logging
import typing
from collections.abc import Callable
from typing import Any

import attrs

from trio_pipe.bus.messages import BusMessage
from trio_pipe.frames import Frame
from trio_pipe.ids import next_id, next_name
from trio_pipe.serializers.errors import (
    MessageDecodeError,
    MessageEncodeError,
    MessageNestingError,
    MissingFieldError,
    WrongFieldTypeError,
)
from trio_pipe.serializers.values import (
    Decoder,
    Encoder,
    Walkers,
    _b64encode,
    enc_scalar,
    enc_typed,
    enum_encoder,
    field_types,
    optional_inner,
    value_decoder,
    wrong_type,
)

logger = logging.getLogger(__name__)

_MISSING = object()
_SCALARS = (str, int, bool, float)


def _fields(codec: Walkers, cls: type) -> list[tuple[attrs.Attribute, Any, bool]]:
    exclude = codec.registry.excluded_fields(cls)
    hints = field_types(cls)
    out = []
    for a in attrs.fields(cls):
        if a.name not in exclude:
            tp, optional = optional_inner(hints.get(a.name, Any))
            out.append((a, tp, optional))
    return out


class _Source:
    """Collects indented source lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, indent: int, *lines: str) -> None:
        self.lines.extend(" " * (4 * indent) + ln for ln in lines)


def _compile(fn_name: str, src: _Source, ns: dict[str, Any], label: str) -> Any:
    source = "\n".join(src.lines)
    exec(compile(source, f"<trio_pipe {label}>", "exec"), ns)
    fn = ns[fn_name]
    fn.__trio_pipe_source__ = source
    return fn


# --- encoders ----------------------------------------------------------------------------


_ENC_CHECK = {
    str: "v.__class__ is not str",
    int: "v.__class__ is not int",
    bool: "v is not True and v is not False",
    float: "v.__class__ is not float or v - v != 0.0 or -1e-4 < v < 1e-4",
}


def make_encoder(codec: Walkers, cls: type) -> Encoder:
    """Generate the encoder of registered attrs class ``cls``."""
    wire = codec.registry.wire_name_of(cls)
    ns: dict[str, Any] = {
        "MessageEncodeError": MessageEncodeError,
        "enc_value": codec.enc_value,
        "enc_dict": codec.enc_dict,
        "_typed": enc_typed,
        "_scalar": enc_scalar,
        "_b64": _b64encode,
    }
    src = _Source()
    src(0, "def encode(o):", "    d = {}")
    for a, tp, optional in _fields(codec, cls):
        name = a.name
        src(1, f"v = o.{name}")
        i = 1
        if optional:
            src(1, "if v is not None:")
            i = 2
        if tp in _SCALARS:
            ns[f"t_{name}"] = tp
            src(i, f"if {_ENC_CHECK[tp]}:", f"    v = _scalar(v, t_{name}, {name!r})")
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            ns[f"e_{name}"] = enum_encoder(tp, codec.registry.wire_name_of(tp), name)
            src(i, f"v = e_{name}(v)")
        else:
            ns[f"t_{name}"] = tp
            if not optional:
                src(
                    i,
                    "if v is None:",
                    f"    raise MessageEncodeError('None is not allowed', [{name!r}])",
                )
            if tp is bytes:
                fast = "v.__class__ is bytes"
                then = "{'__type__': 'bytes', '__data__': _b64(v, newline=False).decode()}"
            elif typing.get_origin(tp) is dict or tp is dict:
                fast, then = "v.__class__ is dict", "enc_dict(v)"
            elif tp is Any or tp is object:
                fast, then = "True", "enc_value(v)"
            else:
                fast, then = "False", ""
            src(i, "try:")
            if fast == "True":
                src(i + 1, f"v = {then}")
            elif fast == "False":
                src(i + 1, f"v = _typed(v, t_{name}, enc_value)")
            else:
                src(i + 1, f"v = {then} if {fast} else _typed(v, t_{name}, enc_value)")
            src(i, "except MessageEncodeError as e:", f"    e.add_field({name!r})", "    raise")
        src(i, f"d[{name!r}] = v")
    src(1, f"return {{'__type__': {wire!r}, '__data__': d}}")
    return _compile("encode", src, ns, f"encode {wire}")


# --- decoders ----------------------------------------------------------------------------


def _construction(cls: type) -> tuple[str, Callable[[Any], None] | None, frozenset[str]]:
    """How a decoder builds ``cls``: ("new", ...), ("frame", mixin post-init, its fields)
    or ("ctor", ...).

    ``BusMessage.__attrs_post_init__`` only draws a fresh id and name, which the decoder
    takes from the wire instead, so messages are built without ``__init__``.
    ``Frame.__attrs_post_init__`` draws id and name, sets ``interruptible`` from the
    class's ``default_interruptible`` and runs the next post-init in the MRO (a mixin
    such as AudioRawFrame, which validates and computes ``num_frames``); the decoder does
    the same. Anything else, or a field validator/converter, means the real constructor.
    """
    if getattr(cls, "__attrs_pre_init__", None) is not None or any(
        a.validator is not None or a.converter is not None for a in attrs.fields(cls)
    ):
        return "ctor", None, frozenset()
    post = getattr(cls, "__attrs_post_init__", None)
    if post is None or post is BusMessage.__attrs_post_init__:
        return "new", None, frozenset()
    if post is Frame.__attrs_post_init__:
        mro = cls.__mro__
        for base in mro[mro.index(Frame) + 1 :]:
            mixin = base.__dict__.get("__attrs_post_init__")
            if mixin is not None:
                computed = frozenset(a.name for a in attrs.fields(base) if not a.init)
                return "frame", mixin, computed
        return "frame", None, frozenset()
    return "ctor", None, frozenset()


_DEC_CHECK = {
    str: ("{v}.__class__ is not str", "a string"),
    int: ("{v}.__class__ is not int", "an integer"),
    bool: ("{v} is not True and {v} is not False", "a boolean"),
}


def make_decoder(codec: Walkers, cls: type) -> Decoder:
    """Generate the decoder of registered attrs class ``cls``."""
    mode, mixin, computed = _construction(cls)
    frozen = cls.__setattr__ is not object.__setattr__
    fields = _fields(codec, cls)
    ns: dict[str, Any] = {
        "_cls": cls,
        "_M": _MISSING,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_next_id": next_id,
        "_next_name": next_name,
        "_wrong": wrong_type,
        "_missing": MissingFieldError,
        "_mixin": mixin,
        "MessageDecodeError": MessageDecodeError,
        "WrongFieldTypeError": WrongFieldTypeError,
        "MessageNestingError": MessageNestingError,
        "dec_value": codec.dec_value,
        "dec_mapping": codec.dec_mapping,
        "_known": frozenset(a.name for a in attrs.fields(cls)),
        "_extra": _log_extra_keys,
    }
    src = _Source()
    src(0, "def decode(d, budget):")
    src(1, "if d.__class__ is not dict:")
    src(2, f"raise _wrong(d, {'a JSON object for ' + cls.__name__!r})")
    src(
        1,
        "if budget <= 0:",
        "    raise MessageNestingError('nested too deeply')",
        "inner = budget - 1",
    )
    for a, tp, optional in fields:
        _decode_field(codec, src, ns, cls, a, tp, optional, mode, computed)
    for a in attrs.fields(cls):  # never read from the wire: the default, else None
        if a.name in codec.registry.excluded_fields(cls):
            if a.default is attrs.NOTHING:
                src(1, f"v_{a.name} = None")
            elif mode == "ctor":
                src(1, f"v_{a.name} = _M")
            elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                ns[f"fac_{a.name}"] = a.default.factory
                src(1, f"v_{a.name} = fac_{a.name}()")
            else:
                ns[f"def_{a.name}"] = a.default
                src(1, f"v_{a.name} = def_{a.name}")
    _construct(src, cls, list(attrs.fields(cls)), mode, frozen, computed)
    src(1, "if not _known.issuperset(d):", "    _extra(_cls, d)", "return o")
    return _compile("decode", src, ns, f"decode {cls.__qualname__}")


def _decode_field(
    codec: Walkers,
    src: _Source,
    ns: dict[str, Any],
    cls: type,
    a: attrs.Attribute,
    tp: Any,
    optional: bool,
    mode: str,
    computed: frozenset[str],
) -> None:
    """Lines leaving field ``a``'s checked value (or its default, or ``_M``) in ``v_<name>``."""
    name, var = a.name, f"v_{a.name}"
    # What an absent field becomes.
    if mode == "ctor" or name in computed:
        absent = f"{var} = _M"  # the constructor / post-init fills it in
    elif not a.init and name in ("id", "name"):
        absent = f"{var} = _next_id()" if name == "id" else f"{var} = _next_name(_cls)"
    elif mode == "frame" and name == "interruptible":
        ns["def_interruptible"] = cls.default_interruptible
        absent = f"{var} = def_interruptible"
    elif a.default is attrs.NOTHING:
        # A required field that admits None: Pipecat leaves None out, so absent is None.
        absent = (
            f"{var} = None"
            if optional
            else f"raise _missing('required field is missing', [{name!r}])"
        )
    elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
        ns[f"fac_{name}"] = a.default.factory
        absent = f"{var} = fac_{name}()"
    else:
        ns[f"def_{name}"] = a.default
        absent = f"{var} = def_{name}"
    lines = _check_lines(codec, ns, name, var, tp)
    if a.default is None:  # Pipecat leaves None out, so these are usually absent
        src(1, f"if {name!r} in d:", f"    {var} = d[{name!r}]")
        if optional:
            src(2, f"if {var} is not None:")
            src(3, *lines)
        else:
            src(2, *lines)
        src(1, "else:", f"    {absent}")
    else:
        src(1, "try:", f"    {var} = d[{name!r}]", "except KeyError:", f"    {absent}", "else:")
        if optional:
            src(2, f"if {var} is not None:")
            src(3, *lines)
        else:
            src(2, *lines)


def _check_lines(codec: Walkers, ns: dict[str, Any], name: str, var: str, tp: Any) -> list[str]:
    if tp in _DEC_CHECK:
        cond, what = _DEC_CHECK[tp]
        return [f"if {cond.format(v=var)}:", f"    raise _wrong({var}, {what!r}, {name!r})"]
    if tp is float:
        return [
            f"if {var}.__class__ is not float:",
            f"    if {var}.__class__ is not int:",
            f"        raise _wrong({var}, 'a number', {name!r})",
            f"    {var} = float({var})",
        ]
    if typing.get_origin(tp) is dict or tp is dict:
        return [
            f"if {var}.__class__ is not dict:",
            f"    raise _wrong({var}, 'an object', {name!r})",
            "try:",
            f"    {var} = dec_mapping({var}, inner)",
            "except MessageDecodeError as e:",
            f"    e.add_field({name!r})",
            "    raise",
        ]
    if tp is Any or tp is object:
        return [
            f"if {var}.__class__ is dict or {var}.__class__ is list:",
            "    try:",
            f"        {var} = dec_value({var}, inner)",
            "    except MessageDecodeError as e:",
            f"        e.add_field({name!r})",
            "        raise",
        ]
    ns[f"c_{name}"] = value_decoder(codec, tp)
    return [
        "try:",
        f"    {var} = c_{name}({var}, inner)",
        "except MessageDecodeError as e:",
        f"    e.add_field({name!r})",
        "    raise",
    ]


def _construct(
    src: _Source,
    cls: type,
    fields: list[attrs.Attribute],
    mode: str,
    frozen: bool,
    computed: frozenset[str],
) -> None:
    def assign(name: str) -> str:
        return f"_set(o, {name!r}, v_{name})" if frozen else f"o.{name} = v_{name}"

    if mode == "ctor":
        src(1, "kw = {}")
        for a in fields:
            if a.init:
                src(1, f"if v_{a.name} is not _M:", f"    kw[{a.alias!r}] = v_{a.name}")
        src(1, "try:", "    o = _cls(**kw)", "except (TypeError, ValueError) as exc:")
        src(2, f"raise WrongFieldTypeError({cls.__name__ + ': '!r} + str(exc)) from None")
        for a in fields:
            if not a.init:
                src(1, f"if v_{a.name} is not _M:", f"    {assign(a.name)}")
        return
    src(1, "o = _new(_cls)")
    for a in fields:
        if a.name not in computed:
            src(1, assign(a.name))
    if mode == "frame":
        src(1, "if _mixin is not None:")
        src(2, "try:", "    _mixin(o)", "except (TypeError, ValueError) as exc:")
        src(3, f"raise WrongFieldTypeError({cls.__name__ + ': '!r} + str(exc)) from None")
        for name in sorted(computed):  # wire values win over computed ones, as in Pipecat
            src(1, f"if v_{name} is not _M:", f"    {assign(name)}")


def _log_extra_keys(cls: type, d: dict[str, Any]) -> None:
    known = {a.name for a in attrs.fields(cls)}
    extra = sorted(k for k in d if k not in known)
    logger.debug("ignoring unknown keys %s in %s", extra, cls.__qualname__)
