"""Serializers: frames to and from transport payloads (``frames``), bus messages (``messages``)."""
