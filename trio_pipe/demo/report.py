"""Old path of :mod:`trio_pipe.apps.demo.report`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import report as _moved
from trio_pipe.apps.demo.report import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
