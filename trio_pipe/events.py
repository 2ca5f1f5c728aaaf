"""Event handlers, Pipecat style, run as children of the object that fires them.

An object registers the events it fires with ``_register_event_handler("on_x")``. Users
attach handlers with ``@obj.event_handler("on_x")`` (or :meth:`add_event_handler`);
each is called as ``handler(obj, *args)`` and may be sync or async. Attaching to an event
the object does not fire raises ``ValueError`` (Pipecat only logs a warning, so a typo
in an event name went unnoticed).

Order
    Firing (:meth:`EventHandlerMixin._call_event_handler`) does not wait: the event joins
    its *lane*, and one child task of the object's nursery (see ``children``) runs the
    lane's handlers one event at a time, in the order the events were fired. By default
    every event name is a lane of its own; an emitter may put related events in one lane
    (a worker's job events: response, update, stream start/data/end, error, completed),
    so their handlers see them in the order they happened. Different lanes run
    concurrently, so a long ``on_client_connected`` handler does not hold back
    ``on_client_disconnected``. Pipecat starts one task per handler call instead: its
    handlers start in order but overlap, and under Trio such tasks start in any order.

Bounds
    The emitter never waits for handlers (a slow handler cannot stall a receive loop).
    Each lane holds at most :attr:`EventHandlerMixin.event_queue_limit` fired events not
    yet handled; past that, new events of that lane are dropped, counted in
    ``event_handler_drops`` and logged (rate-limited). A drop means a handler is far
    slower than its events arrive; raise the limit or make the handler hand work off.

Errors and lifetime
    A raising handler is logged and counted (``event_handler_errors``) and affects nothing
    else, not even the next event of its lane. Handlers run only while the object runs:
    events fired before its nursery opens wait for it; events fired after the object has
    finished are dropped with a debug log, and handlers still running are cancelled with
    the object's nursery. When the emitter must wait (Pipecat awaits some events inline),
    :meth:`_run_event_handler` awaits them in order.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from trio_pipe.children import Children
from trio_pipe.ratelimit import loud

__all__ = ["EventHandlerMixin"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# A lane of sync handlers would otherwise never yield during a long burst.
_YIELD_EVERY = 64


class _Lane:
    """Fired events waiting for their handlers, and whether a task is emptying them."""

    __slots__ = ("busy", "pending")

    def __init__(self) -> None:
        self.pending: deque[tuple[str, tuple[Callable[..., Any], ...], tuple[Any, ...]]] = deque()
        self.busy = False


class EventHandlerMixin:
    """Adds named events with handlers to a long-running object.

    Its ``__init__`` creates the handler tables and a default :class:`~trio_pipe.children.
    Children` set (``self._children``); the owner calls ``super().__init__()`` first in its
    own ``__init__`` (the call is cooperative: arguments go on to the next class), may
    replace ``self._children`` with its own, and its ``run`` attaches its nursery to it.
    """

    event_queue_limit: int = 10_000
    """Fired events one lane may hold before new ones are dropped (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._event_handlers: dict[str, list[Callable[..., Any]]] = {}
        self._event_lanes: dict[str, _Lane] = {}
        self._event_lanes_by_key: dict[str, _Lane] = {}
        self._event_handler_errors = 0
        self._event_handler_drops = 0
        self._children = Children(type(self).__name__)
        super().__init__(*args, **kwargs)

    def _event_children(self) -> Children:
        return self._children

    @property
    def event_handler_errors(self) -> int:
        """How many event handlers raised (each was logged)."""
        return self._event_handler_errors

    @property
    def event_handler_drops(self) -> int:
        """How many fired events were dropped because their lane was full."""
        return self._event_handler_drops

    def _register_event_handler(self, event_name: str, *, lane: str | None = None) -> None:
        """Declare that this object fires ``event_name``; events given the same ``lane``
        name are handled in one order (default: a lane per event)."""
        state = self._event_handlers
        if event_name in state:
            return
        state[event_name] = []
        key = f"lane:{lane}" if lane is not None else f"event:{event_name}"
        self._event_lanes[event_name] = self._event_lanes_by_key.setdefault(key, _Lane())

    def add_event_handler(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Attach ``handler`` to ``event_name``.

        Raises:
            ValueError: this object has no event called ``event_name``.
        """
        self._handlers_of(event_name).append(handler)

    def remove_event_handler(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Detach ``handler`` from ``event_name``; no-op if it was not attached."""
        handlers = self._event_handlers.get(event_name, [])
        if handler in handlers:
            handlers.remove(handler)

    def event_handler(self, event_name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`add_event_handler`."""
        self._handlers_of(event_name)  # an unknown name fails here, not at decoration

        def decorator(handler: F) -> F:
            self.add_event_handler(event_name, handler)
            return handler

        return decorator

    def has_event_handlers(self, event_name: str) -> bool:
        """True if any handler is attached to ``event_name``."""
        return bool(self._event_handlers.get(event_name))

    def _handlers_of(self, event_name: str) -> list[Callable[..., Any]]:
        handlers = self._event_handlers.get(event_name)
        if handlers is None:
            known = ", ".join(sorted(self._event_handlers)) or "none"
            raise ValueError(f"{self!r} has no event {event_name!r} (its events: {known})")
        return handlers

    def _call_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire ``event_name``: its handlers run in its lane, in firing order; nothing waits."""
        handlers = self._handlers_of(event_name)
        if not handlers:
            return
        lane = self._event_lanes[event_name]
        if len(lane.pending) >= self.event_queue_limit:
            self._event_handler_drops = drops = self._event_handler_drops + 1
            if loud(drops):
                logger.warning(
                    "%r: %s dropped, %d events wait for slow handlers (%d dropped so far)",
                    self,
                    event_name,
                    len(lane.pending),
                    drops,
                )
            return
        lane.pending.append((event_name, tuple(handlers), args))
        if lane.busy:
            return
        children = self._event_children()
        if children.closed:
            lane.pending.clear()
            logger.debug("%r has finished; %s not handled", self, event_name)
            return
        lane.busy = True
        children.start_soon(self._run_lane, lane)

    async def _run_lane(self, lane: _Lane) -> None:
        pending = lane.pending
        handled = 0
        try:
            while pending:
                event_name, handlers, args = pending.popleft()
                for handler in handlers:
                    await self._invoke_handler(event_name, handler, args)
                handled += 1
                if handled % _YIELD_EVERY == 0:
                    await trio.lowlevel.checkpoint()
        finally:
            # Cancelled (the object is going away): the next event starts a new task.
            lane.busy = False

    async def _run_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire ``event_name`` and await each handler in turn (errors are logged)."""
        for handler in list(self._handlers_of(event_name)):
            await self._invoke_handler(event_name, handler, args)

    async def _invoke_handler(
        self, event_name: str, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        try:
            result = handler(self, *args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._event_handler_errors += 1
            logger.exception("%r: handler %r for %s failed", self, handler, event_name)
