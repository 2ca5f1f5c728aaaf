"""Old path of :mod:`trio_pipe.apps.demo.report`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import report as _moved

sys.modules[__name__] = _moved
