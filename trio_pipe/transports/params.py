"""TransportParams: what a transport sends and receives, with Pipecat's names and defaults.

attrs, keyword-only. Pipecat fields outside trio_pipe's scope (mixers, output filters,
volume, bitrate, destinations, video) are not accepted: passing one raises ``TypeError``
naming it, instead of being silently ignored. Transports keep an ``attrs.evolve``d copy
and never change the caller's object.

Subclasses (the WebSocket params) are declared with :func:`transport_params` so they
refuse the same fields with the same message.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar, dataclass_transform

import attrs

__all__ = ["UNSUPPORTED_TRANSPORT_PARAMS", "TransportParams", "transport_params"]

#: Pipecat 1.14 ``TransportParams`` fields that trio_pipe does not implement.
UNSUPPORTED_TRANSPORT_PARAMS = frozenset(
    {
        "audio_out_bitrate",
        "audio_out_mixer",
        "audio_out_destinations",
        "audio_out_filter",
        "audio_out_volume",
        "video_in_enabled",
        "video_in_sources",
        "video_out_enabled",
        "video_out_is_live",
        "video_out_width",
        "video_out_height",
        "video_out_bitrate",
        "video_out_framerate",
        "video_out_color_format",
        "video_out_codec",
        "video_out_destinations",
    }
)

C = TypeVar("C", bound=type)

_positive_int = [attrs.validators.instance_of(int), attrs.validators.ge(1)]
_optional_rate = attrs.validators.optional(_positive_int)


@dataclass_transform(kw_only_default=True, field_specifiers=(attrs.field,))
def transport_params(cls: C) -> C:
    """``attrs.define(kw_only=True)`` plus a clear ``TypeError`` for out-of-scope fields."""
    cls = attrs.define(kw_only=True)(cls)
    generated = cls.__init__

    @functools.wraps(generated)
    def __init__(self: Any, **kwargs: Any) -> None:
        unsupported = sorted(UNSUPPORTED_TRANSPORT_PARAMS.intersection(kwargs))
        if unsupported:
            raise TypeError(
                f"{type(self).__name__} does not accept {', '.join(unsupported)}: video, "
                "mixers, output filters, volume, bitrate and destinations are outside "
                "trio_pipe's scope"
            )
        generated(self, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


@transport_params
class TransportParams:
    """Audio settings shared by every transport.

    ``audio_in_filter`` is an object with async ``start(sample_rate)``, ``stop()``,
    ``filter(audio) -> bytes`` and ``process_frame(frame)``. ``audio_in_stream_on_start``
    and ``audio_out_auto_silence`` are accepted for compatibility and have no effect on
    WebSocket transports. ``audio_out_write_timeout_secs`` bounds one audio write (send
    plus pacing sleep) and every other send. ``audio_out_max_backlog_secs`` (trio_pipe
    only; default 60 s, None: unbounded as in Pipecat) bounds the audio queued for
    playback: past it the oldest queued audio is dropped (counted in the output's
    ``dropped_audio_chunks``), so a producer faster than real time (a client flooding an
    echo) cannot grow memory without end.
    """

    audio_in_enabled: bool = False
    audio_in_sample_rate: int | None = attrs.field(default=None, validator=_optional_rate)
    audio_in_channels: int = attrs.field(default=1, validator=_positive_int)
    audio_in_filter: Any | None = None
    audio_in_stream_on_start: bool = True
    audio_in_passthrough: bool = True
    audio_out_enabled: bool = False
    audio_out_sample_rate: int | None = attrs.field(default=None, validator=_optional_rate)
    audio_out_channels: int = attrs.field(default=1, validator=_positive_int)
    audio_out_10ms_chunks: int = attrs.field(default=4, validator=_positive_int)
    audio_out_end_silence_secs: int = attrs.field(
        default=2, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    audio_out_auto_silence: bool = True
    audio_out_write_timeout_secs: float = attrs.field(
        default=10.0, validator=attrs.validators.gt(0)
    )
    audio_out_max_backlog_secs: float | None = attrs.field(
        default=60.0, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
