"""Old path of :mod:`trio_pipe.apps.demo.hosts`: importing it gives that module itself."""

import sys

from trio_pipe.apps.demo import hosts as _moved

sys.modules[__name__] = _moved
