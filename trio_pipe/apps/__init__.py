"""Programs built on the library: the ready-made bots (:mod:`trio_pipe.apps.bots`) that
``trio-pipe serve`` runs and tests and benchmarks use, and ``trio-pipe demo``
(:mod:`trio_pipe.apps.demo`). Nothing in the library's layers imports them."""
