"""Old path of :mod:`trio_pipe.apps.bots` (kept so that imports keep working; see
docs/migrating-from-pipecat.md). Each old module is the new module object itself."""

from trio_pipe.apps.bots import PROTOCOLS, EchoProcessor, echo_app, run_echo_bot

__all__ = ["PROTOCOLS", "EchoProcessor", "echo_app", "run_echo_bot"]
