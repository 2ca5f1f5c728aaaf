"""Run the whole stack in one process and check it: voice bot, proxy, UI jobs, teardown.

    trio-pipe demo                 # a few seconds; exit 0 only if every step worked
    trio-pipe demo --plain         # one line per step, even on a terminal

Serves (Hypercorn, 127.0.0.1, free ports) an echo voice bot whose pipeline runs in a
PipelineWorker, with a UIWorker beside it, and a research worker that the voice side
reaches through the WebSocket proxy. Then it plays a client with the voice test adapter:
speaks a generated utterance, hears the echo, clicks a UI event that runs a job group on
the proxied worker, hangs up, stops the servers, and checks that nothing is left running.
Nothing to configure, no network beyond loopback, no models.
"""

from __future__ import annotations

import argparse
import logging
import sys

import trio

from trio_pipe._errors import interrupted
from trio_pipe.cli import CommandError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` arguments."""
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds for the whole demo (30)"
    )
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="length of the spoken utterance (1.5)"
    )
    parser.add_argument(
        "--plain", action="store_true", help="one line per step, no live progress display"
    )
    parser.add_argument(
        "--log-level", default="CRITICAL", help="show library logs at this level (CRITICAL)"
    )


async def _main(args: argparse.Namespace) -> bool:
    from trio_pipe.apps.demo import DemoConfig, Progress, render_report, run_demo

    progress = Progress(live=False if args.plain else None)
    config = DemoConfig(timeout=args.timeout, utterance_seconds=args.seconds)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(progress.spin)
        report = await run_demo(config, progress)
        nursery.cancel_scope.cancel()
    progress.line("")
    for line in render_report(report):
        progress.line(line)
    return report.ok


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 if every step worked, 1 otherwise, 130 when interrupted (Ctrl-C:
    one line on stderr, no traceback)."""
    if args.timeout <= 0 or not 0 < args.seconds <= 10:
        raise CommandError("--timeout must be positive and --seconds between 0 and 10")
    try:
        level = logging.getLevelNamesMapping()[args.log_level.upper()]
    except KeyError:
        raise CommandError(f"unknown --log-level {args.log_level!r}") from None
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        # KeyboardInterrupt at the main task's checkpoints only (not inside library code).
        ok = trio.run(_main, args, restrict_keyboard_interrupt_to_checkpoints=True)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        print("trio-pipe demo: interrupted", file=sys.stderr)
        return 130
    return 0 if ok else 1
