"""Workers, jobs and the runner (spec bus-workers-proxy §4–§5).

The public names, as in Pipecat: :class:`BaseWorker`, :class:`WorkerRunner`, the
``@job`` and ``@worker_ready`` decorators, the job types, :class:`PipelineWorker` and
:class:`UIWorker`.
"""

from trio_pipe.bus.messages import JobStatus
from trio_pipe.workers.base import BaseWorker
from trio_pipe.workers.decorators import job, worker_ready
from trio_pipe.workers.job_context import JobContext, JobGroupContext
from trio_pipe.workers.jobs import (
    JobError,
    JobEvent,
    JobGroup,
    JobGroupError,
    JobGroupEvent,
    JobGroupParams,
    JobGroupResponse,
    JobParams,
    WorkerActivationArgs,
)
from trio_pipe.workers.pipeline_worker import PipelineWorker
from trio_pipe.workers.runner import WorkerRunner
from trio_pipe.workers.ui import UIWorker

__all__ = [
    "BaseWorker",
    "JobContext",
    "JobError",
    "JobEvent",
    "JobGroup",
    "JobGroupContext",
    "JobGroupError",
    "JobGroupEvent",
    "JobGroupParams",
    "JobGroupResponse",
    "JobParams",
    "JobStatus",
    "PipelineWorker",
    "UIWorker",
    "WorkerActivationArgs",
    "WorkerRunner",
    "job",
    "worker_ready",
]
