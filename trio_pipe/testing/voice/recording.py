"""Turn recordings: WAV files of each turn, and WAV input for the user's side.

:class:`TurnRecorder` listens to an adapter's turns (``adapter.add_turn_listener``) and
writes ``turn-01-user.wav`` / ``turn-01-agent.wav`` ... (24 kHz PCM16 mono) when asked.
Writing is separate from recording so a pytest fixture can write after a failed test too.
"""

from __future__ import annotations

from pathlib import Path

from trio_pipe.audio import add_wav_header, parse_wav, resample_once, to_mono
from trio_pipe.testing.voice.chunk import PCM16_SAMPLE_RATE, AudioChunk
from trio_pipe.testing.voice.turns import TurnRecord

__all__ = ["TurnRecorder", "read_wav", "wav_bytes"]


def wav_bytes(chunk: AudioChunk) -> bytes:
    """``chunk`` as a WAV file (24 kHz, mono, PCM16)."""
    return add_wav_header(chunk.data, PCM16_SAMPLE_RATE, 1)


def read_wav(data: bytes) -> AudioChunk:
    """A PCM16 WAV file of any rate and channel count as a 24 kHz mono chunk.

    Raises ``ValueError`` if ``data`` is not a PCM16 WAV file.
    """
    wav = parse_wav(data)
    if wav is None:
        raise ValueError("not a PCM16 WAV file")
    mono = to_mono(wav.pcm, wav.num_channels)
    return AudioChunk(resample_once(mono, wav.sample_rate, PCM16_SAMPLE_RATE))


class TurnRecorder:
    """Keeps every turn an adapter completes; :meth:`write` saves them as WAV files.

    Use it as the listener itself: ``adapter.add_turn_listener(recorder)``.
    """

    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []

    def __call__(self, record: TurnRecord) -> None:
        self.turns.append(record)

    def write(self, directory: Path) -> list[Path]:
        """Write ``turn-NN-user.wav`` (when the user spoke) and ``turn-NN-agent.wav``.

        Blocking file I/O: from async code, run it in a thread.
        """
        directory.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for record in self.turns:
            sides = [("user", record.user_audio), ("agent", record.agent_audio)]
            for side, chunk in sides:
                if chunk is None or not chunk.data:
                    continue
                path = directory / f"turn-{record.index:02d}-{side}.wav"
                path.write_bytes(wav_bytes(chunk))
                written.append(path)
        return written
