"""Errors a caller can catch: a library's internal nurseries do not show.

Trio's nurseries wrap what their children raise in exception groups, and every level of
nesting adds one more. A caller of ``runner.run()`` whose Redis is down should catch the
connection error itself, not four nested one-member groups around it (Trio's guidance
for libraries that use nurseries internally). So every public ``run()`` of trio_pipe
goes through :func:`single_error`:

* an exception group whose nesting holds exactly one exception (groups of one, all the
  way down) is replaced by that exception, raised with its own traceback and cause; the
  groups around it are dropped from the report (``__suppress_context__``);
* a group of several exceptions (two children really failed at once) stays a group:
  callers handle that case with ``except*``;
* ``KeyboardInterrupt`` and ``trio.Cancelled`` are unwrapped the same way, so a Ctrl-C
  reaches the program as a ``KeyboardInterrupt`` and an outer cancel scope still sees
  its ``Cancelled``.

Apply it at the boundary only (the public ``run``), never inside, where the groups carry
meaning for ``except*``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

__all__ = ["interrupted", "lone_exception", "single_error", "single_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def lone_exception(exc: BaseException) -> BaseException:
    """The single exception inside (nested) one-member exception groups, else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def interrupted(exc: BaseException) -> bool:
    """True if ``exc`` is a Ctrl-C: a ``KeyboardInterrupt``, alone or inside groups.

    Command-line entry points use it to stop with one line and exit status 130.
    """
    if isinstance(exc, KeyboardInterrupt):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(KeyboardInterrupt) is not None


@contextmanager
def single_error() -> Iterator[None]:
    """``with single_error():`` re-raises a lone exception out of its groups (module doc)."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = lone_exception(group)
        if leaf is group:
            raise
        leaf.__suppress_context__ = True  # the groups are only our nurseries' wrapping
        try:
            raise leaf
        finally:
            del leaf, group  # no reference cycle through this frame


def single_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator form of :func:`single_error` for an ``async def run(...)``."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with single_error():
            return await fn(*args, **kwargs)

    return wrapper
