"""Old path of :mod:`trio_pipe.apps.bots.ui_jobs`: importing it gives that module itself."""

import sys

from trio_pipe.apps.bots import ui_jobs as _moved

sys.modules[__name__] = _moved
