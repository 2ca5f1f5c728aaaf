"""Old path of :mod:`trio_pipe.apps.bots.ui_jobs`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import ui_jobs as _moved
from trio_pipe.apps.bots.ui_jobs import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
