"""Old path of :mod:`trio_pipe.apps.demo.run`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import run as _moved
from trio_pipe.apps.demo.run import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
