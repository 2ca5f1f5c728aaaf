"""Typed errors of the bus message serializers.

Every decoding failure is a :class:`MessageDecodeError` (a ``ValueError``), so a receive
loop can catch one class, log, count and carry on. Subclasses say what went wrong; the
``path`` attribute says where (field names, dict keys and list indices from the top-level
message down), and ``str(error)`` shows both.
"""

from __future__ import annotations

__all__ = [
    "InvalidBase64Error",
    "MalformedMessageError",
    "MessageDecodeError",
    "MessageEncodeError",
    "MessageNestingError",
    "MessageTooLargeError",
    "MissingFieldError",
    "NotABusMessageError",
    "UnknownEnumMemberError",
    "UnknownMessageTypeError",
    "WrongFieldTypeError",
    "format_path",
]

PathItem = str | int


def format_path(path: list[PathItem] | tuple[PathItem, ...]) -> str:
    """Render a path: fields as ``.name``, dict keys as ``['key']``, list items as ``[i]``.

    The first item is the message class (or wire tag) and is written bare. Dict keys are
    told apart from field names by the :class:`_Key` wrapper the codecs use.
    """
    out: list[str] = []
    for i, item in enumerate(path):
        if isinstance(item, _Key):
            out.append(f"[{str.__repr__(item)}]")
        elif isinstance(item, int):
            out.append(f"[{item}]")
        elif i == 0:
            out.append(item)
        else:
            out.append(f".{item}")
    return "".join(out)


class _Key(str):
    """A dict key in an error path (as opposed to a field name)."""

    __slots__ = ()


class _PathError(ValueError):
    """Shared machinery: a reason plus a path filled in while the error propagates."""

    def __init__(self, reason: str, path: list[PathItem] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[PathItem] = list(path) if path else []

    def add_field(self, name: str) -> None:
        """Prepend an attribute name (called by each enclosing level on the way up)."""
        self.path.insert(0, name)

    def add_key(self, key: str) -> None:
        """Prepend a dict key."""
        self.path.insert(0, _Key(key))

    def add_index(self, index: int) -> None:
        """Prepend a list index."""
        self.path.insert(0, index)

    @property
    def where(self) -> str:
        """The path as text (empty for an error about the whole document)."""
        return format_path(self.path)

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.path else self.reason


class MessageDecodeError(_PathError):
    """Bytes could not be turned into a bus message; ``path`` says where."""


class MalformedMessageError(MessageDecodeError):
    """The data is not valid UTF-8 JSON."""


class MessageNestingError(MalformedMessageError):
    """The JSON is nested more deeply than the serializer's ``max_depth``."""


class MessageTooLargeError(MessageDecodeError):
    """The data is larger than the serializer's ``max_size``."""


class NotABusMessageError(MessageDecodeError):
    """The top level is not a tagged bus message (``{"__type__": ..., "__data__": {...}}``)."""


class UnknownMessageTypeError(MessageDecodeError):
    """A ``__type__`` tag is not in the registry. Nothing is ever imported to resolve one."""


class MissingFieldError(MessageDecodeError):
    """A required field is absent."""


class WrongFieldTypeError(MessageDecodeError):
    """A field or tagged value has the wrong JSON type (or a value its class rejects)."""


class InvalidBase64Error(MessageDecodeError):
    """A ``bytes`` value is not strict, padded, standard base64."""


class UnknownEnumMemberError(MessageDecodeError):
    """An enum member name (or a ``JobStatus`` value) that the enum does not have."""


class MessageEncodeError(_PathError):
    """A message (or a value inside it) cannot be put on the wire; ``path`` says where.

    Raised for local messages, unregistered classes, and values JSON cannot carry
    faithfully: sets, callables, arbitrary objects, non-string dict keys, NaN/infinity.
    """
