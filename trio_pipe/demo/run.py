"""Old path of :mod:`trio_pipe.apps.demo.run`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import run as _moved

sys.modules[__name__] = _moved
