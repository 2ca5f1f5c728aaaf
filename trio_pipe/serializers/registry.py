"""Old home of the wire-name table; it lives in :mod:`trio_pipe.serializers.wire_names`
now (this module is kept so that imports from it keep working; see
docs/migrating-from-pipecat.md)."""

from trio_pipe.serializers.wire_names import WireRegistry, default_registry, register

__all__ = ["WireRegistry", "default_registry", "register"]
