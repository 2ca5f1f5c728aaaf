"""Old path of :mod:`trio_pipe.apps.demo` (kept so that imports keep working; see
docs/migrating-from-pipecat.md). Each old module is the new module object itself."""

from trio_pipe.apps.demo import (
    DemoConfig,
    DemoReport,
    Progress,
    StepFailed,
    StepResult,
    pacing_errors,
    render_report,
    run_demo,
)

__all__ = [
    "DemoConfig",
    "DemoReport",
    "Progress",
    "StepFailed",
    "StepResult",
    "pacing_errors",
    "render_report",
    "run_demo",
]
