"""Old path of :mod:`trio_pipe.apps.bots.turn_echo`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import turn_echo as _moved
from trio_pipe.apps.bots.turn_echo import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
