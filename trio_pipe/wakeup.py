"""A reusable wake-up point for one task."""

from __future__ import annotations

import trio

__all__ = ["Wakeup"]


class Wakeup:
    """One task parks here until woken; waking with nobody parked costs one attribute read.

    Cheaper than a ``ParkingLot`` or an ``Event`` on hot paths (the bus wakes a subscriber
    once per message) and reusable, unlike an ``Event``. Only one task may park at a time:
    a second one gets ``RuntimeError`` instead of silently orphaning the first (use a
    ``trio.lowlevel.ParkingLot`` where several tasks wait).

    Both methods are protected from ``KeyboardInterrupt``, as Trio asks of code that
    reschedules tasks: a Ctrl-C landing between the record of the parked task and the
    reschedule would otherwise leave a task asleep forever, or woken while it runs (Trio's
    own state then breaks: seen as a hung Ctrl-C and a ``KeyError`` in ``task_exited``).
    """

    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None

    @trio.lowlevel.enable_ki_protection
    def wake(self) -> None:
        """Wake the parked task, if any."""
        task = self._task
        if task is not None:
            self._task = None
            trio.lowlevel.reschedule(task)

    @trio.lowlevel.enable_ki_protection
    async def park(self) -> None:
        """Sleep until :meth:`wake` (cancellation works as usual).

        Raises:
            RuntimeError: another task is already parked here.
        """
        if self._task is not None:
            await trio.lowlevel.checkpoint()  # a checkpoint either way, as Trio expects
            raise RuntimeError("another task is already parked on this Wakeup")
        self._task = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
