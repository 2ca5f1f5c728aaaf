"""UIGroupTracker: the pure bookkeeping behind the client's job-group reports."""

from __future__ import annotations

from trio_pipe.workers.ui_groups import UIGroupTracker
from trio_pipe.workers.ui_state import list_elements, render_ui_state, selection_of


def test_one_completion_per_member_and_one_close_per_group() -> None:
    groups = UIGroupTracker()
    groups.open("j", ["a", "b", "c"])
    assert groups.is_open("j") and len(groups) == 1
    assert groups.accepts_update("j", "a")
    assert not groups.accepts_update("j", "stranger")
    assert not groups.accepts_update("other", "a")
    assert groups.complete("j", "a")
    assert not groups.complete("j", "a")  # a second terminal from the same worker
    assert not groups.accepts_update("j", "a")  # nor its late progress
    assert not groups.complete("j", "stranger")
    assert groups.close("j") == ["b", "c"]  # cut short, in dispatch order
    assert groups.close("j") is None
    assert not groups.complete("j", "b")
    assert len(groups) == 0


def test_snapshot_readers_never_raise_on_odd_input() -> None:
    for odd in (None, [], "x", {}, {"root": "junk"}, {"root": {"children": "x", "state": 3}}):
        selection_of(odd)
        render_ui_state(odd)
        list_elements(odd)
    assert render_ui_state({"root": {"children": "x", "state": 3}}) == (
        "<ui_state>\n- generic:\n</ui_state>"
    )


def test_a_very_deep_tree_renders_without_recursion() -> None:
    node: dict = {"ref": "leaf", "role": "text"}
    for _ in range(5000):
        node = {"ref": "e", "role": "group", "children": [node]}
    text = render_ui_state({"root": node})
    assert text.count("\n") == 5002
    assert text.splitlines()[-2].strip() == "- text [ref=leaf]"
