"""Cutting output audio into pieces: fixed-length chunks and fixed-size packets. Pure.

:class:`AudioChunker` turns audio frames of any length into chunks of ``chunk_bytes``
(10 ms x N), remembering which bytes came from uninterruptible frames so an interruption
can drop only the interruptible ones, and so a chunk mixing both is uninterruptible.

:class:`Packetizer` turns audio payloads into packets of exactly ``size`` bytes for peers
that need strict framing; the remainder waits for the next payload.
"""

from __future__ import annotations

from collections import deque

__all__ = ["AudioChunker", "Packetizer"]


class AudioChunker:
    """Buffer of output-rate audio, cut into ``chunk_bytes`` pieces.

    The buffer is a list of runs ``[audio, uninterruptible]``; adjacent audio of the same
    kind shares a run.
    """

    __slots__ = ("_buffered", "_runs", "chunk_bytes")

    def __init__(self, chunk_bytes: int) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        self.chunk_bytes = chunk_bytes
        self._runs: deque[tuple[bytearray, bool]] = deque()
        self._buffered = 0

    @property
    def buffered(self) -> int:
        """Bytes waiting for a full chunk."""
        return self._buffered

    def add(self, audio: bytes, *, interruptible: bool = True) -> list[tuple[bytes, bool]]:
        """Buffer ``audio``; return every full chunk as ``(audio, interruptible)``."""
        if audio:
            uninterruptible = not interruptible
            if self._runs and self._runs[-1][1] == uninterruptible:
                self._runs[-1][0].extend(audio)
            else:
                self._runs.append((bytearray(audio), uninterruptible))
            self._buffered += len(audio)
        chunks = []
        while self._buffered >= self.chunk_bytes:
            chunks.append(self._take())
        return chunks

    def flush(self) -> tuple[bytes, bool] | None:
        """The remainder zero-padded to a full chunk (None if nothing is buffered)."""
        if not self._buffered:
            return None
        audio, interruptible = self._take()
        return audio + bytes(self.chunk_bytes - len(audio)), interruptible

    def drop_interruptible(self) -> None:
        """Forget buffered audio that came from interruptible frames."""
        self._runs = deque(run for run in self._runs if run[1])
        self._buffered = sum(len(run[0]) for run in self._runs)

    def clear(self) -> None:
        """Forget everything buffered."""
        self._runs.clear()
        self._buffered = 0

    def _take(self) -> tuple[bytes, bool]:
        """Up to one chunk from the front, and whether all of it is interruptible."""
        chunk = bytearray()
        uninterruptible = False
        runs = self._runs
        while len(chunk) < self.chunk_bytes and runs:
            audio, run_uninterruptible = runs[0]
            uninterruptible = uninterruptible or run_uninterruptible
            needed = self.chunk_bytes - len(chunk)
            if len(audio) <= needed:
                chunk += audio
                runs.popleft()
            else:
                chunk += audio[:needed]
                del audio[:needed]
        self._buffered -= len(chunk)
        return bytes(chunk), not uninterruptible


class Packetizer:
    """Send buffer that releases only whole packets of ``size`` bytes."""

    __slots__ = ("_buffer", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"packet size must be >= 1, got {size}")
        self.size = size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes waiting for a full packet."""
        return len(self._buffer)

    def feed(self, payload: bytes) -> list[bytes]:
        """Append ``payload``; return every whole packet now available."""
        buffer = self._buffer
        buffer += payload
        size = self.size
        whole = len(buffer) - len(buffer) % size
        packets = [bytes(buffer[i : i + size]) for i in range(0, whole, size)]
        del buffer[:whole]
        return packets

    def clear(self) -> None:
        """Drop the waiting bytes (after an interruption)."""
        self._buffer.clear()
