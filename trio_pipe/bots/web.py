"""Old path of :mod:`trio_pipe.apps.bots.web`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import web as _moved

sys.modules[__name__] = _moved
