"""Voice activity detection and user turns (Pipecat 1.14's VAD, as pipeline stages).

* :mod:`.analyzer`: :class:`VADParams`, :class:`VADState`, the pure :class:`VADAnalyzer`;
* :mod:`.volume`: the loudness measure ``min_volume`` is compared with;
* :mod:`.webrtc`: :class:`WebRTCVADAnalyzer`, the default backend (``webrtcvad-wheels``);
* :mod:`.processor`: :class:`VADProcessor`, VAD frames from input audio;
* :mod:`.turns`: :class:`UserTurnProcessor`, user turns and barge-in from VAD frames.
"""

from trio_pipe.vad.analyzer import VADAnalyzer, VADParams, VADState
from trio_pipe.vad.processor import VADProcessor
from trio_pipe.vad.turns import UserTurnProcessor
from trio_pipe.vad.webrtc import WebRTCVADAnalyzer

__all__ = [
    "UserTurnProcessor",
    "VADAnalyzer",
    "VADParams",
    "VADProcessor",
    "VADState",
    "WebRTCVADAnalyzer",
]
