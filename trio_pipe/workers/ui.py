"""UIWorker: a worker that reacts to the client's UI and drives it.

::

    class Shop(UIWorker):
        @ui_event("nav_click")
        async def on_nav(self, message):
            await self.send_command("toast", Toast(title=f"Opened {message.payload['view']}"))

        @job(name="research")
        async def research(self, message):
            async with self.job_group("wiki", "news", params=JobGroupParams(label="Research")):
                ...  # the client sees the group start, progress, and finish

What it does (spec ui-and-voice-testing A.5, A.6):

* ``@ui_event(name)`` methods handle the client's ``ui-event`` messages (republished on
  the bus as ``BusUIEventMessage`` by the PipelineWorker that owns the client's RTVI);
* the client's snapshots are kept (``snapshot``, ``selection``, ``render_ui_state()``,
  ``list_elements()``);
* ``send_command`` and the helpers (``scroll_to``, ``highlight``, ``select_text``,
  ``click``, ``set_input_value``) publish ``BusUICommandMessage``;
* every job group it dispatches, whatever the entry point (``job_group``,
  ``request_job_group``, ``job``, ``request_job``, the deprecated ``ui_job_group``), is
  reported to the client: ``group_started``, ``job_update``, one ``job_completed`` per
  worker, ``group_completed``; a client may cancel a group dispatched as cancellable.

Unlike Pipecat 1.14's ``UIWorker`` this one has no LLM (spec A.1): it is Pipecat's
LLM-free ``BaseUIWorker`` plus events, commands and snapshot reading.

Resource handling
    ``@ui_event`` handlers run as children of the worker's nursery, so the bus lane is
    never held by a handler (it only waits for each handler to begin, so handlers start
    in the order the events arrived), and they are cancelled when the worker stops. Group timers
    and cleanup are the base worker's (children of the same nursery). The client's reports
    go out synchronously as the group moves (no task of their own), so a group cancelled
    from an exiting ``async with`` still reports while its caller is being cancelled.

Error handling
    A handler that raises is logged and counted in ``ui_handler_errors``; later events
    are still dispatched. A job worker whose handler raises answers ERROR (the base
    worker does that), so its group closes for the client (Pipecat leaves it open).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from trio_pipe import compat
from trio_pipe.bus.messages import (
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamEndMessage,
    BusJobUpdateMessage,
    BusJobUpdateUrgentMessage,
    BusMessage,
    JobStatus,
)
from trio_pipe.bus.ui import (
    UI_CANCEL_JOB_GROUP_EVENT_NAME,
    UI_SNAPSHOT_EVENT_NAME,
    BusUICommandMessage,
    BusUIEventMessage,
    now_ms,
)
from trio_pipe.rtvi.models import (
    Click,
    Focus,
    Highlight,
    Navigate,
    ScrollTo,
    SelectText,
    SetInputValue,
    Toast,
    unstructure_payload,
)
from trio_pipe.workers.base import BaseWorker
from trio_pipe.workers.decorators import _collect
from trio_pipe.workers.job_context import JobGroupContext
from trio_pipe.workers.jobs import JobGroup, JobGroupParams, JobGroupResponse, JobParams
from trio_pipe.workers.ui_reports import ClientGroupReports
from trio_pipe.workers.ui_state import UISelection, list_elements, render_ui_state, selection_of

__all__ = [
    "BaseUIWorker",
    "Click",
    "Focus",
    "Highlight",
    "Navigate",
    "ScrollTo",
    "SelectText",
    "SetInputValue",
    "Toast",
    "UISelection",
    "UIWorker",
    "ui_event",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_UI_EVENT = "_trio_pipe_ui_event"

UIEventHandler = Callable[[BusUIEventMessage], Awaitable[Any]]


def ui_event(name: str) -> Callable[[F], F]:
    """Mark ``async def handler(self, message: BusUIEventMessage)`` for UI event ``name``.

    Handlers are collected from the class's MRO at construction: a subclass method of the
    same attribute name replaces the base one (an undecorated override removes it), and
    two different methods claiming one event name raise ValueError.
    """
    if not isinstance(name, str):
        raise TypeError(f"@ui_event name must be a str, not {type(name).__name__}")

    def decorator(fn: F) -> F:
        fn.is_ui_event_handler = True  # type: ignore[attr-defined]  # Pipecat's markers
        fn.ui_event_name = name  # type: ignore[attr-defined]
        setattr(fn, _UI_EVENT, name)
        return fn

    return decorator


def collect_ui_event_handlers(obj: object) -> dict[str, UIEventHandler]:
    """``{event name: bound method}`` for ``obj``'s ``@ui_event`` methods."""
    return {
        key: getattr(obj, attr)
        for key, (attr, _) in _collect(obj, _UI_EVENT, "@ui_event handler").items()
    }


def _plain_payload(payload: Any) -> Any:
    """A command payload as plain JSON data (see :meth:`UIWorker.send_command`)."""
    if payload is None:
        return {}
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return dataclasses.asdict(payload)
    model_dump = getattr(payload, "model_dump", None)
    if callable(model_dump) and not isinstance(payload, type):
        return model_dump()  # a pydantic model, e.g. one of Pipecat's command models
    return unstructure_payload(payload)


class UIWorker(BaseWorker):
    """A worker that handles client UI events, sends UI commands and reports job groups.

    Args:
        name: unique on the bus (default ``"UIWorker#<n>"``).
        active: start accepting messages at once (default).
        clock: returns epoch milliseconds for the ``at`` fields (default
            :func:`trio_pipe.bus.ui.now_ms`); a trio_pipe addition, for tests.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        active: bool = True,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(name, active=active)
        self._ui_event_handlers = collect_ui_event_handlers(self)
        self._latest_snapshot: dict[str, Any] | None = None
        self._clock = clock if clock is not None else now_ms
        self._reports = ClientGroupReports(self.name, self._clock)
        self.ui_handler_errors = 0
        """How many ``@ui_event`` handlers raised (each was logged)."""
        # BaseWorker gives up its bus prefilter because on_bus_message is overridden; this
        # override ignores exactly what the base ignores, so the prefilter still holds.
        cls = type(self)
        if (
            cls.on_bus_message is UIWorker.on_bus_message
            and cls.accepts_bus_message is BaseWorker.accepts_bus_message
        ):
            self.bus_prefilter = self._addressed_here

    # --- snapshot -------------------------------------------------------------------------

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The latest accessibility snapshot of the page, or None before the first."""
        return self._latest_snapshot

    @property
    def selection(self) -> UISelection | None:
        """The text the user has selected on the page, or None."""
        return selection_of(self._latest_snapshot)

    def render_ui_state(self) -> str:
        """The snapshot as a ``<ui_state>`` block (``""`` without one); override to change."""
        return render_ui_state(self._latest_snapshot)

    def list_elements(self, role: str | None = None) -> list[dict[str, Any]]:
        """The snapshot's named elements, breadth first: ``{role, name, state, value}``."""
        return list_elements(self._latest_snapshot, role)

    # --- commands -------------------------------------------------------------------------

    async def send_command(self, name: str, payload: Any = None) -> None:
        """Send the UI command ``name`` to the client (a ``BusUICommandMessage``, broadcast).

        ``payload``: None becomes ``{}``; an attrs instance (such as :class:`Toast`) or a
        pydantic model becomes its full dict; a dataclass instance its ``asdict``; anything
        else (a dict, a list...) goes as it is. It must be JSON-serializable: TypeError or
        ValueError otherwise, here rather than at the client's transport.
        """
        serialized = _plain_payload(payload)
        json.dumps(serialized, allow_nan=False)  # raises at the caller for a bad payload
        await self.send_bus_message(
            BusUICommandMessage(
                source=self.name, target=None, command_name=name, payload=serialized
            )
        )

    async def scroll_to(self, ref: str) -> None:
        """``send_command("scroll_to", ScrollTo(ref=ref))``."""
        await self.send_command("scroll_to", ScrollTo(ref=ref))

    async def highlight(self, ref: str) -> None:
        """``send_command("highlight", Highlight(ref=ref))``."""
        await self.send_command("highlight", Highlight(ref=ref))

    async def select_text(
        self, ref: str, *, start_offset: int | None = None, end_offset: int | None = None
    ) -> None:
        """Select the element's text (or the ``start_offset``..``end_offset`` range)."""
        await self.send_command(
            "select_text", SelectText(ref=ref, start_offset=start_offset, end_offset=end_offset)
        )

    async def click(self, ref: str) -> None:
        """``send_command("click", Click(ref=ref))``."""
        await self.send_command("click", Click(ref=ref))

    async def set_input_value(self, ref: str, value: str, *, replace: bool = True) -> None:
        """Write ``value`` into the input ``ref`` (``replace=False`` appends)."""
        await self.send_command(
            "set_input_value", SetInputValue(value=value, ref=ref, replace=replace)
        )

    # --- events ---------------------------------------------------------------------------

    async def on_bus_message(self, message: BusMessage) -> None:
        """Base handling, then UI events: snapshot, cancel request, or ``@ui_event``."""
        await super().on_bus_message(message)
        if not isinstance(message, BusUIEventMessage) or self.finished:
            return
        if message.target and message.target != self.name:
            return
        event_name = message.event_name
        if event_name == UI_SNAPSHOT_EVENT_NAME:
            if isinstance(message.payload, dict):
                self._latest_snapshot = message.payload
            return
        if event_name == UI_CANCEL_JOB_GROUP_EVENT_NAME:
            await self._handle_cancel_job_event(message)
            return
        handler = self._ui_event_handlers.get(event_name)
        if handler is None:
            return
        started = trio.Event()
        self._children.start_soon(self._run_ui_event_handler, handler, message, started)
        if self._children.running:
            # Wait until the handler has begun (not finished), so handlers start in
            # the order the events came in; Trio would otherwise start a batch at random.
            await started.wait()

    async def _run_ui_event_handler(
        self, handler: UIEventHandler, message: BusUIEventMessage, started: trio.Event
    ) -> None:
        started.set()
        try:
            await handler(message)
        except Exception:
            self.ui_handler_errors += 1
            logger.exception(
                "worker %r: @ui_event handler for %r failed", self.name, message.event_name
            )

    async def _handle_cancel_job_event(self, message: BusUIEventMessage) -> None:
        payload = message.payload if isinstance(message.payload, dict) else {}
        job_id = payload.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            logger.warning("worker %r: a cancel request without a job_id; ignored", self.name)
            return
        reason = payload.get("reason")
        if not isinstance(reason, str):
            reason = None
        if not await self.request_cancel_job_group(job_id, reason=reason or "cancelled by user"):
            logger.debug(
                "worker %r: cancel request for unknown or non-cancellable group %s; ignored",
                self.name,
                job_id,
            )

    # --- job groups, as the client sees them (envelopes from workers.ui_reports) ----------

    async def _start_job_group(
        self, worker_names: list[str], params: JobParams, *, events: bool
    ) -> JobGroup:
        # Every entry point (job_group, request_job_group, job, request_job) comes here.
        # The requests are out when the base returns; the started report follows at once,
        # before this task can yield, so nothing about the group can overtake it.
        group = await super()._start_job_group(worker_names, params, events=events)
        await self.send_bus_message(self._reports.started(group))
        return group

    async def on_job_update(self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage) -> None:
        """Forward a member's progress on an open group to the client."""
        await super().on_job_update(message)
        update = self._reports.update(message.job_id, message.source, message.update)
        if update is not None:
            await self.send_bus_message(update)

    async def on_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """Report a member's answer, before the group is torn down (errors show first)."""
        await super().on_job_response(message)
        status = str(message.status)
        self._send_all(
            self._reports.job_completed(message.job_id, message.source, status, message.response)
        )

    async def on_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        """A stream end answers the job: report it completed with the final data."""
        await super().on_job_stream_end(message)
        status = str(JobStatus.COMPLETED)
        self._send_all(
            self._reports.job_completed(message.job_id, message.source, status, message.data)
        )

    async def on_job_completed(self, result: JobGroupResponse) -> None:
        """Every member answered: close the client's card."""
        await super().on_job_completed(result)
        self._send_all(self._reports.group_completed(result.job_id))

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel the group, then report each member it cut short, then the group's end."""
        await super().cancel_job_group(job_id, reason=reason)
        self._send_all(self._reports.group_cancelled(job_id))

    def _send_all(self, messages: list[BusMessage]) -> None:
        # Sync on purpose: the group's end reaches the client before any code that the
        # group's end wakes (the caller of job_group) can run and send its own messages.
        for message in messages:
            self._send(message)

    # --- deprecated spellings (Pipecat deprecated them in 1.8; see trio_pipe.compat) ------

    def ui_job_group(self, *worker_names: str, **deprecated: Any) -> JobGroupContext:
        """Deprecated: ``job_group(*worker_names, params=JobGroupParams(...))``."""
        params = compat.ui_group_params(
            "ui_job_group", _UI_GROUP_REPLACEMENT, JobGroupParams, deprecated
        )
        return self.job_group(*worker_names, params=params)

    async def start_ui_job_group(self, *worker_names: str, **deprecated: Any) -> str:
        """Deprecated: ``request_job_group(*worker_names, params=JobGroupParams(...))``."""
        params = compat.ui_group_params(
            "start_ui_job_group", "request_job_group(params=...)", JobGroupParams, deprecated
        )
        return await self.request_job_group(*worker_names, params=params)


_UI_GROUP_REPLACEMENT = (
    "job_group(params=JobGroupParams(...)), every group a UIWorker dispatches is client-visible"
)


class BaseUIWorker(UIWorker):
    """Deprecated (as in Pipecat since 1.12): use :class:`UIWorker`, which does the same."""

    def __init__(self, name: str | None = None, *, active: bool = True) -> None:
        compat.deprecated_class("BaseUIWorker", "UIWorker")
        super().__init__(name, active=active)
