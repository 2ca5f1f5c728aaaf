"""The README's example runs, leaves nothing behind, and is the file the README shows."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "readme_example.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("readme_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_the_example_file_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert EXAMPLE.read_text() in blocks


async def test_readme_example_answers_and_leaves_nothing_running(live_tasks):
    before = live_tasks()
    response = await _load_example().main()
    assert response == {"found": "3 papers on trio"}
    assert live_tasks() == before


def test_readme_example_runs_as_a_script():
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )  # the timeout is a hang guard only
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{'found': '3 papers on trio'}\n"
