"""Old home of the bus message serializers; they live in
:mod:`trio_pipe.serializers.json_serializer` now (this module is kept so that imports from
it keep working; see docs/migrating-from-pipecat.md)."""

from trio_pipe.serializers.json_serializer import (
    DEFAULT_MAX_SIZE,
    JSONMessageSerializer,
    MessageSerializer,
)

__all__ = ["DEFAULT_MAX_SIZE", "JSONMessageSerializer", "MessageSerializer"]
