"""UIWorker: @ui_event dispatch, snapshots, commands (spec A.5; A.7 checks 22-31, 47, 48)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import trio
from ui_helpers import ui_event
from worker_helpers import Spy, settle, start_runner

from trio_pipe.bus.ui import BusUICommandMessage, BusUIEventMessage
from trio_pipe.workers.ui import (
    BaseUIWorker,
    Focus,
    Navigate,
    Toast,
    UISelection,
    UIWorker,
)
from trio_pipe.workers.ui import ui_event as on_ui


class Shop(UIWorker):
    def __init__(self, name: str = "ui", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.calls: list[tuple[str, Any]] = []
        self.gate = trio.Event()

    @on_ui("nav_click")
    async def on_nav(self, message: BusUIEventMessage) -> None:
        self.calls.append(("nav_click", message))

    @on_ui("slow")
    async def on_slow(self, message: BusUIEventMessage) -> None:
        self.calls.append(("slow-start", message.payload))
        await self.gate.wait()
        self.calls.append(("slow-end", message.payload))

    @on_ui("boom")
    async def on_boom(self, message: BusUIEventMessage) -> None:
        raise RuntimeError("handler bug")


async def run_shop(nursery: trio.Nursery, shop: UIWorker | None = None) -> tuple[Any, Any, Spy]:
    shop = shop or Shop()
    runner = await start_runner(nursery, shop)
    spy = Spy()
    runner.bus.subscribe(spy)
    return runner, shop, spy


async def deliver(runner: Any, *messages: Any) -> None:
    for message in messages:
        runner.bus.send(message)
    await settle()


# --- @ui_event -------------------------------------------------------------------------------


async def test_a_handler_is_called_once_with_the_message(nursery: trio.Nursery) -> None:
    runner, shop, _ = await run_shop(nursery)
    event = ui_event("nav_click", {"view": "home"})
    await deliver(runner, event, ui_event("unregistered", {"x": 1}))
    assert shop.calls == [("nav_click", event)]


async def test_events_for_another_worker_are_not_dispatched(nursery: trio.Nursery) -> None:
    runner, shop, _ = await run_shop(nursery)
    await deliver(
        runner,
        ui_event("nav_click", 1, target="someone-else"),
        ui_event("nav_click", 2, target="ui"),
        ui_event("nav_click", 3),
    )
    assert [m.payload for _, m in shop.calls] == [2, 3]


async def test_a_blocked_handler_does_not_hold_the_next_event(nursery: trio.Nursery) -> None:
    runner, shop, _ = await run_shop(nursery)
    await deliver(runner, ui_event("slow", "a"), ui_event("nav_click", "b"))
    assert [c[0] for c in shop.calls] == ["slow-start", "nav_click"]
    shop.gate.set()
    await settle()
    assert shop.calls[-1] == ("slow-end", "a")


async def test_a_raising_handler_is_logged_and_the_next_event_still_runs(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    runner, shop, _ = await run_shop(nursery)
    with caplog.at_level(logging.ERROR):
        await deliver(runner, ui_event("boom"), ui_event("nav_click"))
    assert shop.ui_handler_errors == 1
    assert "handler bug" in caplog.text
    assert [c[0] for c in shop.calls] == ["nav_click"]


def test_two_methods_claiming_one_event_name_raise_at_construction() -> None:
    class Twice(UIWorker):
        @on_ui("x")
        async def a(self, message: Any) -> None: ...

        @on_ui("x")
        async def b(self, message: Any) -> None: ...

    with pytest.raises(ValueError, match="'x'"):
        Twice("t")

    class Base(UIWorker):
        @on_ui("y")
        async def a(self, message: Any) -> None: ...

    class Sub(Base):
        @on_ui("y")
        async def b(self, message: Any) -> None: ...

    with pytest.raises(ValueError, match="'y'"):
        Sub("s")


def test_overrides_replace_or_remove_the_base_handler() -> None:
    class Base(UIWorker):
        @on_ui("y")
        async def a(self, message: Any) -> None: ...

    class Replaced(Base):
        @on_ui("z")
        async def a(self, message: Any) -> None: ...

    class Removed(Base):
        async def a(self, message: Any) -> None: ...

    assert set(Replaced("r")._ui_event_handlers) == {"z"}
    assert Removed("d")._ui_event_handlers == {}
    assert Base.a.is_ui_event_handler and Base.a.ui_event_name == "y"  # Pipecat's markers


async def test_after_run_returns_no_handler_task_is_left(nursery: trio.Nursery, live_tasks) -> None:
    before = live_tasks()
    shop = Shop()
    async with trio.open_nursery() as inner:
        runner, _, _ = await run_shop(inner, shop)
        await deliver(runner, ui_event("slow", "x"))  # blocked forever on the gate
        assert shop.calls == [("slow-start", "x")]
        await runner.end()
    assert live_tasks() <= before
    assert shop.finished


# --- snapshot --------------------------------------------------------------------------------

TREE = {
    "root": {
        "ref": "e1",
        "role": "main",
        "children": [
            {"ref": "e3", "role": "heading", "name": "Home", "level": 1},
            {
                "ref": "e4",
                "role": "grid",
                "name": "Orders",
                "colcount": 3,
                "rowcount": 10,
                "children": [
                    {
                        "ref": "e5",
                        "role": "textbox",
                        "name": "Search",
                        "value": "shoes",
                        "state": ["focused", "required"],
                    },
                    {"ref": "e6", "role": "checkbox", "name": "Gift", "state": ["checked"]},
                ],
            },
            {"ref": "e7", "role": "button"},
            {"role": "", "ref": "e8", "name": "Untitled"},
        ],
    },
    "captured_at": 1,
    "selection": {"ref": "e3", "text": "Home"},
}

GOLDEN = """<ui_state>
- main [ref=e1]:
  - heading "Home" [level=1] [ref=e3]
  - grid "Orders" [cols=3] [rows=10] [ref=e4]:
    - textbox "Search" = "shoes" [focused] [required] [ref=e5]
    - checkbox "Gift" [checked] [ref=e6]
  - button [ref=e7]
  - generic "Untitled" [ref=e8]
<selection ref="e3">
Home
</selection>
</ui_state>"""


async def test_a_snapshot_is_stored_and_calls_no_handler(nursery: trio.Nursery) -> None:
    class Watch(Shop):
        @on_ui("__ui_snapshot")
        async def never(self, message: Any) -> None:
            self.calls.append(("snapshot-handler", message))

    runner, shop, _ = await run_shop(nursery, Watch())
    assert shop.snapshot is None
    assert shop.render_ui_state() == ""
    await deliver(runner, ui_event("__ui_snapshot", TREE))
    assert shop.snapshot == TREE
    await deliver(runner, ui_event("__ui_snapshot", ["not", "a", "dict"]))
    await deliver(runner, ui_event("__ui_snapshot", None))
    assert shop.snapshot == TREE
    assert shop.calls == []
    assert shop.render_ui_state() == GOLDEN


async def test_selection(nursery: trio.Nursery) -> None:
    runner, shop, _ = await run_shop(nursery)
    assert shop.selection is None

    async def select(selection: Any) -> UISelection | None:
        await deliver(runner, ui_event("__ui_snapshot", {**TREE, "selection": selection}))
        return shop.selection

    assert await select({"ref": "e2", "text": " Save "}) == UISelection("e2", "Save")
    assert await select({"ref": "e2", "text": "   "}) is None
    assert await select({"text": "Save"}) is None
    assert await select({"ref": "", "text": "Save"}) is None
    assert await select("junk") is None


async def test_list_elements(nursery: trio.Nursery) -> None:
    runner, shop, _ = await run_shop(nursery)
    assert shop.list_elements() == []
    await deliver(runner, ui_event("__ui_snapshot", TREE))
    assert [e["name"] for e in shop.list_elements()] == [
        "Home",
        "Orders",
        "Untitled",
        "Search",
        "Gift",
    ]
    assert shop.list_elements("checkbox") == [
        {"role": "checkbox", "name": "Gift", "state": ["checked"], "value": None}
    ]
    assert shop.list_elements("textbox")[0]["value"] == "shoes"


# --- commands --------------------------------------------------------------------------------


async def test_send_command_payloads(nursery: trio.Nursery) -> None:
    @dataclasses.dataclass
    class Card:
        title: str
        count: int = 0

    _, shop, spy = await run_shop(nursery)
    await shop.send_command("ping")
    await shop.send_command("raw", {"a": [1, None]})
    await shop.send_command("toast", Toast(title="x"))
    await shop.send_command("card", Card("t"))
    await shop.send_command("navigate", Navigate(view="home"))
    await shop.send_command("focus", Focus(ref="e1"))
    await shop.send_command("list", [1, 2])
    await settle()
    commands = spy.of(BusUICommandMessage)
    assert [(c.command_name, c.payload) for c in commands] == [
        ("ping", {}),
        ("raw", {"a": [1, None]}),
        (
            "toast",
            {
                "title": "x",
                "subtitle": None,
                "description": None,
                "image_url": None,
                "duration_ms": None,
            },
        ),
        ("card", {"title": "t", "count": 0}),
        ("navigate", {"view": "home", "params": None}),
        ("focus", {"ref": "e1", "target_id": None}),
        ("list", [1, 2]),
    ]
    assert all(c.source == "ui" and c.target is None for c in commands)


async def test_a_payload_that_is_not_json_is_refused_at_the_call(nursery: trio.Nursery) -> None:
    _, shop, spy = await run_shop(nursery)
    with pytest.raises(TypeError):
        await shop.send_command("bad", {"when": object()})
    with pytest.raises(ValueError):
        await shop.send_command("bad", {"x": float("nan")})
    await settle()
    assert spy.of(BusUICommandMessage) == []


async def test_command_helpers(nursery: trio.Nursery) -> None:
    _, shop, spy = await run_shop(nursery)
    await shop.click("e42")
    await shop.set_input_value("e7", "hi")
    await shop.set_input_value("e7", "more", replace=False)
    await shop.scroll_to("e1")
    await shop.highlight("e2")
    await shop.select_text("e3", start_offset=1, end_offset=4)
    await settle()
    assert [(c.command_name, c.payload) for c in spy.of(BusUICommandMessage)] == [
        ("click", {"ref": "e42", "target_id": None}),
        ("set_input_value", {"value": "hi", "ref": "e7", "target_id": None, "replace": True}),
        ("set_input_value", {"value": "more", "ref": "e7", "target_id": None, "replace": False}),
        ("scroll_to", {"ref": "e1", "target_id": None, "behavior": None}),
        ("highlight", {"ref": "e2", "target_id": None, "duration_ms": None}),
        ("select_text", {"ref": "e3", "target_id": None, "start_offset": 1, "end_offset": 4}),
    ]


def test_base_ui_worker_is_a_deprecated_alias() -> None:
    with pytest.deprecated_call():
        worker = BaseUIWorker("old")
    assert isinstance(worker, UIWorker)


async def test_a_ui_worker_keeps_its_bus_prefilter(nursery: trio.Nursery) -> None:
    shop = Shop()
    assert shop.bus_prefilter is not None

    class Snoop(UIWorker):
        async def on_bus_message(self, message: Any) -> None:
            await super().on_bus_message(message)

    assert Snoop("s").bus_prefilter is None  # an override may look at anything
