"""Child tasks of a long-running object, started from synchronous code.

Workers, transports and pipeline tasks often learn that something must run (an event
handler, a job handler) in code that cannot await, or before their nursery is open.
:class:`Children` holds the object's nursery while it runs:

* work started before the nursery opens is kept and starts when it opens;
* work started after the object has finished raises ``RuntimeError``, as a closed
  nursery does, because nothing may outlive the object's ``run`` (callers that may fire
  late, such as event handlers, check :attr:`Children.closed` first).

Resource handling
    ``Children`` never opens a nursery of its own: the owner opens one in ``run`` and
    hands it over with :meth:`open`/:meth:`close` (or ``with children.attached(nursery):``).

Error handling
    The spawned callables are the owner's business: wrap them to log and swallow
    ``Exception`` where a failure must not take the owner down (see ``events``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio

__all__ = ["Children"]


class Children:
    """Start work in the owner's nursery, queued until it opens, refused once it closed."""

    __slots__ = ("_closed", "_nursery", "_owner", "_pending")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._nursery: trio.Nursery | None = None
        self._pending: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]] = []
        self._closed = False

    @property
    def running(self) -> bool:
        """True while a nursery is attached."""
        return self._nursery is not None

    @property
    def closed(self) -> bool:
        """True once the owner has finished; new work is refused."""
        return self._closed

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a child of the owner's nursery.

        Raises:
            RuntimeError: the owner has finished (its nursery is closed).
        """
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)
        elif self._closed:
            raise RuntimeError(f"{self._owner} has finished; cannot start {fn!r}")
        else:
            self._pending.append((fn, args))

    def open(self, nursery: trio.Nursery) -> None:
        """Attach the owner's nursery and start the work queued so far."""
        self._nursery = nursery
        self._closed = False
        pending, self._pending = self._pending, []
        for fn, args in pending:
            nursery.start_soon(fn, *args)

    def close(self) -> None:
        """Detach the nursery: from now on new work is refused."""
        self._nursery = None
        self._closed = True
        self._pending.clear()

    @contextmanager
    def attached(self, nursery: trio.Nursery) -> Iterator[None]:
        """``with children.attached(nursery):`` opens on entry and closes on exit."""
        self.open(nursery)
        try:
            yield
        finally:
            self.close()
