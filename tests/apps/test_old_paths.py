"""The bots and the demo moved to trio_pipe.apps; the old import paths give the same
module objects (so patching one patches the other)."""

from __future__ import annotations

import importlib

import pytest

import trio_pipe.apps.bots as bots
import trio_pipe.apps.demo as demo


@pytest.mark.parametrize(
    "old, new",
    [
        *(
            (f"trio_pipe.bots.{m}", f"trio_pipe.apps.bots.{m}")
            for m in ("echo", "turn_echo", "ui_jobs", "web")
        ),
        *(
            (f"trio_pipe.demo.{m}", f"trio_pipe.apps.demo.{m}")
            for m in ("client", "hosts", "progress", "report", "run")
        ),
    ],
)
def test_an_old_module_path_is_the_new_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_the_old_packages_export_the_same_names() -> None:
    old_bots = importlib.import_module("trio_pipe.bots")
    old_demo = importlib.import_module("trio_pipe.demo")
    assert all(getattr(old_bots, n) is getattr(bots, n) for n in bots.__all__)
    assert all(getattr(old_demo, n) is getattr(demo, n) for n in demo.__all__)
    from trio_pipe.bots.web import page_routes

    assert page_routes is importlib.import_module("trio_pipe.apps.bots.web").page_routes
