"""``trio-pipe demo``: the whole stack in one process, checked step by step.

Two Hypercorn servers on 127.0.0.1 (free ports): a voice bot (a PipelineWorker running the
turn-taking echo over trio_pipe's WebSocket server transport, and a UIWorker) and a
research host (a job worker behind a WebSocketProxyServer); the voice side reaches the
research worker with a WebSocketProxyClient. A client built on the voice test adapter
speaks a generated utterance, hears it back once the bot's VAD heard it stop (its own turn
ends by VAD too), cuts into a reply (barge-in), and clicks a UI event that runs a job
group on the proxied worker. Then everything is stopped and the task tree is checked for leftovers.

    report = await run_demo()          # DemoConfig() defaults, progress on stdout
    print("\\n".join(render_report(report)))
"""

from trio_pipe.apps.demo.progress import Progress
from trio_pipe.apps.demo.report import DemoReport, StepResult, pacing_errors, render_report
from trio_pipe.apps.demo.run import DemoConfig, StepFailed, run_demo

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
