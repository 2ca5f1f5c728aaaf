"""Progress of the demo's steps: a live step list on a terminal, plain lines elsewhere.

On a terminal the running step has a spinner and a clock, redrawn in place (carriage
return and "erase line"), and is replaced by a check mark or a cross when it ends. When
output goes to a file or a pipe (CI, tests), each step prints one line when it ends:
``[ok] name: detail`` or ``[FAIL] name: detail``. No colour when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import trio

from trio_pipe.apps.demo.report import StepResult

__all__ = ["Progress"]

_ERASE = "\r\x1b[K"
_GREEN, _RED, _DIM, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


class Progress:
    """Shows steps as they start and end.

    Args:
        stream: where to write (default ``sys.stdout``).
        live: redraw in place (a terminal); None: if ``stream`` is a TTY.
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.live = isatty() if live is None else live
        self.color = self.live and not os.environ.get("NO_COLOR")
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        fancy = self.live and encoding == "utf8"
        self._frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" if fancy else "|/-\\"
        self._marks = ("✓", "✗") if fancy else ("ok", "!!")
        self._current: str | None = None
        self._started_at = 0.0
        self._tick = 0

    def _paint(self, text: str, color: str) -> str:
        return f"{color}{text}{_RESET}" if self.color else text

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def begin(self, name: str) -> None:
        """A step started."""
        self._current = name
        self._started_at = trio.current_time()
        if self.live:
            self._redraw()

    def end(self, result: StepResult) -> None:
        """A step ended: one line for it, for good."""
        self._current = None
        detail = f": {result.detail}" if result.detail else ""
        if self.live:
            mark = (
                self._paint(self._marks[0], _GREEN)
                if result.ok
                else self._paint(self._marks[1], _RED)
            )
            took = self._paint(f" ({result.seconds:.1f} s)", _DIM)
            self._write(f"{_ERASE} {mark} {result.name}{detail}{took}\n")
        else:
            self._write(f"[{'ok' if result.ok else 'FAIL'}] {result.name}{detail}\n")

    def line(self, text: str) -> None:
        """A free line (the report), below the steps."""
        if self.live and self._current is not None:
            self._write(_ERASE)
        self._write(text + "\n")

    def _redraw(self) -> None:
        if self._current is None:
            return
        frame = self._frames[self._tick % len(self._frames)]
        elapsed = trio.current_time() - self._started_at
        self._write(f"{_ERASE} {self._paint(frame, _DIM)} {self._current} ({elapsed:.1f} s)")

    async def spin(self) -> None:
        """Redraw the running step until cancelled (returns at once when not live)."""
        if not self.live:
            return
        while True:
            await trio.sleep(0.08)
            self._tick += 1
            self._redraw()
