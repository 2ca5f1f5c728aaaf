"""An app built on trio_pipe, for tests that start it under Hypercorn's workers."""

from trio_pipe.bots.echo import echo_app
from trio_pipe.serving import require_trio

app = require_trio(echo_app("raw", turns=False))


def make_app():
    """The same app, built in each serving process (trio_pipe.multiprocess)."""
    return require_trio(echo_app("raw", turns=False))
