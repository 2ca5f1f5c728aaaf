"""TransportParams: defaults, keyword-only, out-of-scope fields refused (T19, T20, P1, P2)."""

from __future__ import annotations

import attrs
import pytest

from trio_pipe.transports.base import (
    UNSUPPORTED_TRANSPORT_PARAMS,
    TransportParams,
    transport_params,
)


def test_defaults_match_pipecat() -> None:
    p = TransportParams()
    assert (p.audio_in_enabled, p.audio_out_enabled) == (False, False)
    assert p.audio_in_sample_rate is None and p.audio_out_sample_rate is None
    assert (p.audio_in_channels, p.audio_out_channels) == (1, 1)
    assert p.audio_in_filter is None
    assert p.audio_in_stream_on_start and p.audio_in_passthrough and p.audio_out_auto_silence
    assert p.audio_out_10ms_chunks == 4
    assert p.audio_out_end_silence_secs == 2
    assert p.audio_out_write_timeout_secs == 10.0


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        TransportParams(True)  # type: ignore[misc]


@pytest.mark.parametrize("field", sorted(UNSUPPORTED_TRANSPORT_PARAMS))
def test_out_of_scope_fields_are_refused(field: str) -> None:
    with pytest.raises(TypeError, match=field):
        TransportParams(**{field: True})


def test_subclasses_refuse_them_too() -> None:
    @transport_params
    class WebsocketLikeParams(TransportParams):
        add_wav_header: bool = True

    assert WebsocketLikeParams().add_wav_header
    with pytest.raises(TypeError, match="video_out_enabled"):
        WebsocketLikeParams(video_out_enabled=True)
    with pytest.raises(TypeError):
        WebsocketLikeParams(bogus=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audio_out_10ms_chunks": 0},
        {"audio_out_channels": 0},
        {"audio_in_sample_rate": 0},
        {"audio_out_end_silence_secs": -1},
        {"audio_out_write_timeout_secs": 0},
    ],
)
def test_bad_values(kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        TransportParams(**kwargs)


def test_evolve_copies() -> None:
    p = TransportParams(audio_out_enabled=True)
    q = attrs.evolve(p, audio_out_channels=2)
    assert p.audio_out_channels == 1 and q.audio_out_channels == 2 and q.audio_out_enabled
