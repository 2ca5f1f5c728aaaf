"""Old path of :mod:`trio_pipe.apps.bots.echo`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import echo as _moved

sys.modules[__name__] = _moved
