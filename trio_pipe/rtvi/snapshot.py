"""Validation of a client's accessibility snapshot (the ``tree`` of a ``ui-snapshot``).

The shape is Pipecat's ``A11ySnapshot``: ``root`` (an ``A11yNode``), ``captured_at`` (int)
and an optional ``selection`` (an ``A11ySelection``). Unknown keys are allowed at the
snapshot, node and selection levels and kept. :func:`validate_snapshot` returns the tree
as Pipecat dumps it for the bus (``exclude_none``): declared fields first, then the extra
keys, every ``None``-valued key left out at those levels (``null`` deeper inside an extra
value is kept).

trio_pipe differences: types are checked strictly (an ``int`` field takes an int or an
integral float, never a bool or a numeric string, which pydantic's lax mode coerces), and
a tree deeper than :data:`MAX_DEPTH` levels is refused rather than walked.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "SnapshotError", "validate_snapshot"]

#: Deepest node nesting accepted (a DOM's accessibility tree is far shallower).
MAX_DEPTH = 200


class SnapshotError(ValueError):
    """The snapshot does not have the ``A11ySnapshot`` shape; the message says where."""


def _str(value: Any, path: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SnapshotError(f"{path}: expected a string, got {type(value).__name__}")
    return value


def _int(value: Any, path: str, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise SnapshotError(f"{path}: expected an integer, got {type(value).__name__}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SnapshotError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def _extras(source: dict[str, Any], declared: tuple[str, ...], out: dict[str, Any]) -> None:
    for key, value in source.items():
        if key not in declared and value is not None:
            out[key] = value


_NODE_STR = ("name", "value")
_NODE_INT = ("level", "colcount", "rowcount")
_NODE_FIELDS = (
    "ref",
    "role",
    "name",
    "value",
    "state",
    "level",
    "colcount",
    "rowcount",
    "children",
)


def _node(value: Any, path: str, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise SnapshotError(f"{path}: the tree is deeper than {MAX_DEPTH} levels")
    node = _object(value, path)
    out: dict[str, Any] = {
        "ref": _str(node.get("ref"), f"{path}.ref", optional=False),
        "role": _str(node.get("role"), f"{path}.role", optional=False),
    }
    for key in _NODE_STR:
        text = _str(node.get(key), f"{path}.{key}", optional=True)
        if text is not None:
            out[key] = text
    state = node.get("state")
    if state is not None:
        if not isinstance(state, list):
            raise SnapshotError(f"{path}.state: expected a list, got {type(state).__name__}")
        out["state"] = [_str(s, f"{path}.state[{i}]", optional=False) for i, s in enumerate(state)]
    for key in _NODE_INT:
        number = _int(node.get(key), f"{path}.{key}", optional=True)
        if number is not None:
            out[key] = number
    children = node.get("children")
    if children is not None:
        if not isinstance(children, list):
            raise SnapshotError(f"{path}.children: expected a list, got {type(children).__name__}")
        out["children"] = [
            _node(child, f"{path}.children[{i}]", depth + 1) for i, child in enumerate(children)
        ]
    _extras(node, _NODE_FIELDS, out)
    return out


_SELECTION_FIELDS = ("ref", "text", "start_offset", "end_offset")


def _selection(value: Any, path: str) -> dict[str, Any]:
    selection = _object(value, path)
    out: dict[str, Any] = {
        "ref": _str(selection.get("ref"), f"{path}.ref", optional=False),
        "text": _str(selection.get("text"), f"{path}.text", optional=False),
    }
    for key in ("start_offset", "end_offset"):
        number = _int(selection.get(key), f"{path}.{key}", optional=True)
        if number is not None:
            out[key] = number
    _extras(selection, _SELECTION_FIELDS, out)
    return out


def validate_snapshot(tree: Any) -> dict[str, Any]:
    """Check ``tree`` and return it without ``None`` fields; :class:`SnapshotError` if bad."""
    snapshot = _object(tree, "tree")
    if "root" not in snapshot:
        raise SnapshotError("tree.root: field required")
    out: dict[str, Any] = {
        "root": _node(snapshot["root"], "tree.root", 1),
        "captured_at": _int(snapshot.get("captured_at"), "tree.captured_at", optional=False),
    }
    if snapshot.get("selection") is not None:
        out["selection"] = _selection(snapshot["selection"], "tree.selection")
    _extras(snapshot, ("root", "captured_at", "selection"), out)
    return out
