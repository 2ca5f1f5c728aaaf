"""``python -m trio_pipe`` runs the ``trio-pipe`` command."""

import sys

from trio_pipe.cli import main

sys.exit(main())
