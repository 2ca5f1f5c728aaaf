"""A WebSocket server's incoming bytes, split at frame boundaries without I/O: the common
frames decoded here, the rest handed on whole to a full parser.

Under load nearly every frame a client sends is a whole message in one masked frame (FIN
set, text or binary, no extension bits). :class:`FrameSplitter` decodes those itself, with
websockets' C-accelerated unmasking, and returns complete control frames (ping, pong,
close) as :class:`Raw` bytes for the full parser (wsproto, under Hypercorn) to act on. The
full parser thus only ever sees whole frames, so its state stays what it would be had it
read everything, and anything unusual is its to judge: at the first frame this module
does not decode (a fragment, extension bits, an unmasked frame, an unknown opcode, a
message over the size cap, text that is not UTF-8) and after a close frame, the splitter
hands on everything from there on, the rest of this read and every later one
(:attr:`FrameSplitter.passthrough`).

Resource handling
    Only an incomplete frame is kept between reads, and only while its declared length is
    within ``max_message`` (a longer one goes to the full parser, which enforces the cap),
    so what is held is bounded by ``max_message`` plus a frame header.

Tests feed it bytes alone (``tests/ws/test_frame_splitter.py``).
"""

from __future__ import annotations

from typing import Final

import attrs

try:  # websockets' C speedup; its pure-Python twin otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover (the wheels carry the extension)
    from websockets.utils import apply_mask

__all__ = ["FrameSplitter", "Raw"]

_FIN: Final = 0x80
_RSV: Final = 0x70
_MASKED: Final = 0x80
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL: Final = frozenset((_CLOSE, _PING, _PONG))
_MAX_CONTROL_PAYLOAD: Final = 125


@attrs.frozen
class Raw:
    """Bytes for the full parser: whole control frames, or (once the splitter passes
    everything through) whatever arrived."""

    data: bytes


class FrameSplitter:
    """Splits the bytes a client sends into whole messages (``bytes`` for binary, ``str``
    for text) and :class:`Raw` bytes for the full parser, in the order they arrived."""

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.passthrough = False
        """True once everything goes to the full parser (see the module doc)."""
        self._pending = bytearray()
        self._wanted = 0  # the whole pending frame's size, once its header is in

    def feed(self, data: bytes) -> list[bytes | str | Raw]:
        """What ``data`` (the next bytes from the client) completes, in order."""
        if self.passthrough:
            return [Raw(data)]
        pending = self._pending
        if pending:
            pending += data
            if len(pending) < self._wanted:  # a long frame, read by read: no re-parsing
                return []
            buffer: bytes | bytearray = pending
            self._pending = bytearray()
        else:
            buffer = data
        out: list[bytes | str | Raw] = []
        pos, end_of_data = 0, len(buffer)
        while end_of_data - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            opcode = first & 0x0F
            if first & _RSV or not second & _MASKED:
                break  # extensions, or a client frame without a mask: the parser's call
            length, head = second & 0x7F, pos + 2
            if length == 126:
                if end_of_data - head < 2:
                    return self._keep(buffer, pos, 0, out)
                length, head = int.from_bytes(buffer[head : head + 2], "big"), head + 2
            elif length == 127:
                if end_of_data - head < 8:
                    return self._keep(buffer, pos, 0, out)
                length, head = int.from_bytes(buffer[head : head + 8], "big"), head + 8
            if opcode in _CONTROL:
                if length > _MAX_CONTROL_PAYLOAD or not first & _FIN:
                    break
            elif opcode not in (_TEXT, _BINARY) or not first & _FIN or length > self.max_message:
                break
            end = head + 4 + length
            if end > end_of_data:  # the rest of this frame is still on its way
                return self._keep(buffer, pos, end - pos, out)
            if opcode in _CONTROL:
                out.append(Raw(bytes(buffer[pos:end])))
                pos = end
                if opcode == _CLOSE:
                    break  # the connection is closing: the parser takes it from here
                continue
            payload = apply_mask(buffer[head + 4 : end], buffer[head : head + 4])
            if opcode == _TEXT:
                try:
                    out.append(payload.decode())
                except UnicodeDecodeError:
                    break  # the parser closes with 1007
            else:
                out.append(payload)
            pos = end
        else:
            return self._keep(buffer, pos, 0, out)
        # A frame (from pos) that is not ours to decode, or a close frame crossed.
        self.passthrough = True
        if pos < end_of_data:
            out.append(Raw(bytes(buffer[pos:])))
        return out

    def stop(self) -> bytes:
        """Hand everything to the full parser from now on; returns the bytes of an
        incomplete frame held so far (for the parser, ahead of what comes next)."""
        self.passthrough = True
        held, self._pending = bytes(self._pending), bytearray()
        return held

    def _keep(
        self, buffer: bytes | bytearray, pos: int, wanted: int, out: list[bytes | str | Raw]
    ) -> list[bytes | str | Raw]:
        self._pending = bytearray(buffer[pos:])
        self._wanted = wanted
        return out
