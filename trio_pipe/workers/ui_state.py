"""Reading a client's accessibility snapshot: selection, ``<ui_state>`` text, elements. Pure.

The snapshot is the dict a ``ui-snapshot`` carried (see ``trio_pipe.rtvi.snapshot``), but
these functions accept any value and never raise: a snapshot from another process (a
Pipecat PipelineWorker on the same Redis bus) is not validated by us, so every field is
type-checked as it is read, and trees are walked without recursion.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["UISelection", "list_elements", "render_ui_state", "selection_of"]


class UISelection(NamedTuple):
    """The text the user has selected on the page, and the ref of its element."""

    ref: str
    text: str


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def selection_of(snapshot: Any) -> UISelection | None:
    """``UISelection(ref, text.strip())``, or None without a ref or with blank text."""
    selection = snapshot.get("selection") if isinstance(snapshot, dict) else None
    if not isinstance(selection, dict):
        return None
    ref, text = selection.get("ref"), selection.get("text")
    if not _nonempty_str(ref) or not isinstance(text, str) or not text.strip():
        return None
    return UISelection(ref, text.strip())


def _node_line(node: dict[str, Any], depth: int) -> str:
    parts = [f"- {node.get('role') or 'generic'}"]
    name, value = node.get("name"), node.get("value")
    if _nonempty_str(name):
        parts.append(f'"{name}"')
    if _nonempty_str(value):
        parts.append(f'= "{value}"')
    for key, tag in (("level", "level"), ("colcount", "cols"), ("rowcount", "rows")):
        number = node.get(key)
        if isinstance(number, int):
            parts.append(f"[{tag}={number}]")
    state = node.get("state")
    if isinstance(state, list):
        parts.extend(f"[{s}]" for s in state if _nonempty_str(s))
    ref = node.get("ref")
    if _nonempty_str(ref):
        parts.append(f"[ref={ref}]")
    line = "  " * depth + " ".join(parts)
    return line + ":" if node.get("children") else line


def render_ui_state(snapshot: Any) -> str:
    """The snapshot as a ``<ui_state>`` block, or ``""`` without a snapshot or root.

    One line per node (``  `` per depth, ``- role "name" = "value" [level=N] [cols=N]
    [rows=N] [state]... [ref=eN]``, a trailing ``:`` when it has children), then the
    selection as ``<selection ref="eN">``/text/``</selection>`` when it has both.
    """
    if not isinstance(snapshot, dict) or not snapshot:
        return ""
    root = snapshot.get("root")
    if not isinstance(root, dict):
        return ""
    lines = ["<ui_state>"]
    stack: list[tuple[dict[str, Any], int]] = [(root, 0)]
    while stack:  # depth first, children in order
        node, depth = stack.pop()
        lines.append(_node_line(node, depth))
        children = node.get("children")
        if isinstance(children, list):
            stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, dict))
    selection = snapshot.get("selection")
    if isinstance(selection, dict):
        ref, text = selection.get("ref"), selection.get("text")
        if _nonempty_str(ref) and _nonempty_str(text):
            lines += [f'<selection ref="{ref}">', text, "</selection>"]
    lines.append("</ui_state>")
    return "\n".join(lines)


def list_elements(snapshot: Any, role: str | None = None) -> list[dict[str, Any]]:
    """The named elements (nodes with a ref and a name), breadth first, without refs.

    Each is ``{"role", "name", "state", "value"}`` (``value`` only when a str, else None);
    with ``role``, only elements of that role.
    """
    root = snapshot.get("root") if isinstance(snapshot, dict) else None
    if not isinstance(root, dict):
        return []
    found: list[dict[str, Any]] = []
    pending = [root]
    index = 0
    while index < len(pending):
        node = pending[index]
        index += 1
        name = node.get("name")
        if _nonempty_str(node.get("ref")) and _nonempty_str(name):
            element_role = str(node.get("role", "element"))
            if role is None or element_role == role:
                state = node.get("state") or []
                value = node.get("value")
                found.append(
                    {
                        "role": element_role,
                        "name": name,
                        "state": [s for s in state if isinstance(s, str)]
                        if isinstance(state, list)
                        else [],
                        "value": value if isinstance(value, str) else None,
                    }
                )
        children = node.get("children")
        if isinstance(children, list):
            pending.extend(c for c in children if isinstance(c, dict))
    return found
