"""Old path of :mod:`trio_pipe.apps.bots.web`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import web as _moved
from trio_pipe.apps.bots.web import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
