"""Small ready-made bots (an echo voice bot) for trying transports by hand, demos, tests
and benchmarks."""

from trio_pipe.apps.bots.echo import PROTOCOLS, EchoProcessor, echo_app, run_echo_bot

__all__ = ["PROTOCOLS", "EchoProcessor", "echo_app", "run_echo_bot"]
