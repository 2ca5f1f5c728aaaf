"""Old path of :mod:`trio_pipe.apps.demo.client`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import client as _moved
from trio_pipe.apps.demo.client import *  # noqa: F403 (what type checkers read; at run time the module is swapped)

sys.modules[__name__] = _moved
