"""The ``trio-pipe`` command: one command, a subcommand per job.

Each subcommand lives in its own module of this package and provides two functions:

* ``configure(parser: argparse.ArgumentParser) -> None`` adds its arguments;
* ``run(args: argparse.Namespace) -> int`` does the work and returns the exit status.

Its help line is the first line of its module docstring. Errors a user can cause (a bad
argument, a URL that refuses connections) are reported in one line by raising
:class:`CommandError`; ``main`` prints it without a traceback and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

__all__ = ["SUBCOMMANDS", "CommandError", "main"]

# name -> module; the order is the order in --help.
SUBCOMMANDS: dict[str, str] = {
    "demo": "trio_pipe.cli.demo",
    "call": "trio_pipe.cli.call",
    "bench": "trio_pipe.cli.bench",
    "serve": "trio_pipe.cli.serve",
}


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def plain_text(doc: str) -> str:
    """A docstring as help text: without reST markup (````x````, ``:class:`x```)."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    return doc.replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="trio-pipe",
        description="Real-time voice-agent plumbing for Trio.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or name).strip().splitlines()[0]
        # Raw: the docstrings' example lines stay as written (argparse would reflow them).
        command = sub.add_parser(
            name,
            help=summary,
            description=plain_text(module.__doc__ or ""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-pipe`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except CommandError as exc:
        print(f"trio-pipe {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
