"""The bus layer imports no worker; the bridge's old import paths still resolve."""

from __future__ import annotations

import subprocess
import sys

import trio_pipe.bus
import trio_pipe.bus.bridge_processor as old_module
from trio_pipe.workers import bridge_processor


def test_importing_the_bus_imports_no_worker_module() -> None:
    code = (
        "import sys, trio_pipe.bus, trio_pipe.bus.bridge_processor, trio_pipe.bus.redis;"
        "print(sorted(m for m in sys.modules if m.startswith('trio_pipe.workers')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_old_paths_give_the_same_classes() -> None:
    assert trio_pipe.bus.BusBridgeProcessor is bridge_processor.BusBridgeProcessor
    assert old_module.BusBridgeProcessor is bridge_processor.BusBridgeProcessor
    assert old_module.BusEdgeProcessor is bridge_processor.BusEdgeProcessor
    assert old_module.LIFECYCLE_FRAMES == bridge_processor.LIFECYCLE_FRAMES
    from trio_pipe.bus import BusBridgeProcessor

    assert BusBridgeProcessor is bridge_processor.BusBridgeProcessor


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    try:
        _ = old_module.Nope  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("no AttributeError")
