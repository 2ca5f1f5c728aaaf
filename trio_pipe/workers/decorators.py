"""``@job`` and ``@worker_ready``: mark worker methods, collected from the MRO at construction.

``@job(name="research")`` routes requests with that ``job_name`` to the method;
``sequential=True`` runs requests of that name one at a time, in arrival order.
``@worker_ready(name="greeter")`` runs the method when that worker registers.

Two methods for the same job name, or the same watched worker, raise ValueError naming
both. A subclass overriding a marked method by the same attribute name replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["job", "worker_ready"]

F = TypeVar("F", bound=Callable[..., Any])

_JOB = "_trio_pipe_job"
_READY = "_trio_pipe_worker_ready"


def job(*, name: str, sequential: bool = False) -> Callable[[F], F]:
    """Mark ``async def handler(self, message)`` as the handler of job ``name``.

    Each request runs as its own child task of the worker. With ``sequential=True``
    requests of this name run one at a time in arrival order; the time spent waiting
    counts against the requester's timeout.
    """
    if not isinstance(name, str):
        raise TypeError(f"@job name must be a str, not {type(name).__name__}")

    def decorator(fn: F) -> F:
        setattr(fn, _JOB, (name, sequential))
        return fn

    return decorator


def worker_ready(*, name: str) -> Callable[[F], F]:
    """Mark ``async def handler(self, data: WorkerReadyData)`` to run when ``name`` is ready.

    The worker watches ``name`` at start; ``on_worker_ready`` still fires after the method.
    """
    if not isinstance(name, str):
        raise TypeError(f"@worker_ready name must be a str, not {type(name).__name__}")

    def decorator(fn: F) -> F:
        setattr(fn, _READY, name)
        return fn

    return decorator


def _collect(obj: object, marker: str, what: str) -> dict[str, tuple[str, Any]]:
    """Map each marked key to (attribute name, mark), walking the MRO most-derived first."""
    seen: set[str] = set()
    found: dict[str, tuple[str, Any]] = {}
    for cls in type(obj).__mro__:
        for attr, value in vars(cls).items():
            if attr in seen:
                continue
            seen.add(attr)
            mark = getattr(value, marker, None)
            if mark is None:
                continue
            key = mark[0] if isinstance(mark, tuple) else mark
            if key in found:
                raise ValueError(
                    f"duplicate {what} for {key!r}: {attr!r} and {found[key][0]!r} "
                    f"on {type(obj).__name__}"
                )
            found[key] = (attr, mark)
    return found


def collect_job_handlers(obj: object) -> dict[str, tuple[Callable[..., Any], bool]]:
    """``{job name: (bound method, sequential)}`` for ``obj``'s ``@job`` methods."""
    return {
        key: (getattr(obj, attr), mark[1])
        for key, (attr, mark) in _collect(obj, _JOB, "@job handler").items()
    }


def collect_worker_ready_handlers(obj: object) -> dict[str, Callable[..., Any]]:
    """``{worker name: bound method}`` for ``obj``'s ``@worker_ready`` methods."""
    return {
        key: getattr(obj, attr)
        for key, (attr, _) in _collect(obj, _READY, "@worker_ready handler").items()
    }
