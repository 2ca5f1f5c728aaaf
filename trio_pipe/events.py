"""Event handlers, Pipecat style, run as children of the object that fires them.

An object registers the events it fires with ``_register_event_handler("on_x")``. Users
attach handlers with ``@obj.event_handler("on_x")`` (or :meth:`add_event_handler`);
each is called as ``handler(obj, *args)`` and may be sync or async.

Firing (:meth:`EventHandlerMixin._call_event_handler`) does not wait: every handler runs
as a child task of the object's nursery (see ``children``), so a handler may call the
object's own ``cancel()`` safely and nothing outlives the object's ``run``. A raising
handler is logged and counted, and affects nothing else. When the emitter must wait
(Pipecat awaits some events inline), :meth:`_run_event_handler` awaits them in order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from trio_pipe.children import Children

__all__ = ["EventHandlerMixin"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class EventHandlerMixin:
    """Adds named events with handlers to a long-running object.

    The object provides ``self._children`` (a :class:`~trio_pipe.children.Children`) or
    lets the mixin create one on first use; its ``run`` attaches its nursery to it.
    """

    _event_handlers: dict[str, list[Callable[..., Any]]]
    _children: Children

    def _event_state(self) -> dict[str, list[Callable[..., Any]]]:
        try:
            return self._event_handlers
        except AttributeError:
            self._event_handlers = {}
            return self._event_handlers

    def _event_children(self) -> Children:
        try:
            return self._children
        except AttributeError:
            self._children = Children(repr(self))
            return self._children

    @property
    def event_handler_errors(self) -> int:
        """How many event handlers raised (each was logged)."""
        return getattr(self, "_event_handler_errors", 0)

    def _register_event_handler(self, event_name: str) -> None:
        """Declare that this object fires ``event_name``."""
        self._event_state().setdefault(event_name, [])

    def add_event_handler(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Attach ``handler`` to ``event_name``; an unknown event is logged and ignored."""
        handlers = self._event_state().get(event_name)
        if handlers is None:
            logger.warning("%r has no event %r; handler %r ignored", self, event_name, handler)
            return
        handlers.append(handler)

    def event_handler(self, event_name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`add_event_handler`."""

        def decorator(handler: F) -> F:
            self.add_event_handler(event_name, handler)
            return handler

        return decorator

    def has_event_handlers(self, event_name: str) -> bool:
        """True if any handler is attached to ``event_name``."""
        return bool(self._event_state().get(event_name))

    def _call_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire ``event_name``: each handler starts as a child task; nothing waits for it."""
        handlers = self._event_state().get(event_name)
        if not handlers:
            return
        children = self._event_children()
        for handler in handlers:
            children.start_soon(self._invoke_handler, event_name, handler, args)

    async def _run_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire ``event_name`` and await each handler in turn (errors are logged)."""
        for handler in list(self._event_state().get(event_name, ())):
            await self._invoke_handler(event_name, handler, args)

    async def _invoke_handler(
        self, event_name: str, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        try:
            result = handler(self, *args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._event_handler_errors = self.event_handler_errors + 1
            logger.exception("%r: handler %r for %s failed", self, handler, event_name)
