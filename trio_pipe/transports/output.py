"""BaseOutputTransport: frames leave the pipeline for a peer here, audio at playback speed.

Downstream audio is resampled to the transport's rate, cut into chunks of 10 ms x
``audio_out_10ms_chunks`` and queued, in order with the other data frames, for the
*audio loop*, which writes each chunk and then sleeps by the :class:`~.pacing.Pacer`
schedule, so the peer gets audio as a sound card would play it. Urgent transport messages
overtake the queue; ordered ones keep their place after earlier audio.

Writing goes through a :class:`TransportWriter` (the WebSocket session or client wrapper
implements it: ``is_connected``, ``is_closing``, ``async send(data) -> bool``) and the
transport's serializer. Subclasses that talk to something else override
:meth:`BaseOutputTransport.write_audio_frame` and :meth:`BaseOutputTransport.send_message`
as in Pipecat.

Resource handling
    The audio loop is a child of the processor's nursery with its own cancel scope. An
    ``EndFrame`` queues behind the pending audio: the loop writes it all (the last partial
    chunk zero-padded: Pipecat loses it), then the end silence, and ends. A
    ``CancelFrame`` cancels the loop at once. Every send holds one lock, so payloads never
    interleave, and is bounded by ``audio_out_write_timeout_secs``; a send cut short
    (timeout or cancel) may have left part of a message on the wire, so the output is
    unusable from then on. The audio queue holds what the pipeline produced ahead of
    playback (how a reply plays out), up to ``audio_out_max_backlog_secs`` of audio
    (Pipecat's is unbounded): past that the oldest queued audio chunks are dropped,
    counted in ``dropped_audio_chunks`` and logged (rate-limited), so live audio arriving
    faster than real time keeps the newest and memory stays bounded.

Bot speaking
    :class:`~.speaking.BotSpeech` decides, from the chunks actually written (at their
    paced time), when ``BotStartedSpeakingFrame``, ``BotSpeakingFrame`` and
    ``BotStoppedSpeakingFrame`` are broadcast both ways; an interruption that leaves no
    audio queued stops speech at once.

Error handling
    A write that times out pushes one ``ErrorFrame`` upstream, marks the output unusable
    (later audio writes return False at once) and calls :meth:`on_write_timeout`. A
    serializer that raises loses that frame only (logged, counted in ``dropped_frames``).
    With the connection closed or closing, audio writes return False without pacing and
    messages are skipped quietly.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any, ClassVar, Protocol, runtime_checkable

import trio

from trio_pipe.audio import Resampler, add_wav_header, silence
from trio_pipe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    OutputTransportReadyFrame,
    StartFrame,
    SystemFrame,
    TTSStoppedFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.tracked import track
from trio_pipe.transports.backlog import AudioBacklog
from trio_pipe.transports.chunks import AudioChunker, Packetizer
from trio_pipe.transports.half import TransportHalf
from trio_pipe.transports.pacing import Pacer, send_interval
from trio_pipe.transports.params import TransportParams
from trio_pipe.transports.speaking import BotSpeech
from trio_pipe.wakeup import Wakeup

__all__ = ["BaseOutputTransport", "TransportWriter"]

logger = logging.getLogger(__name__)

_DOWN = FrameDirection.DOWNSTREAM
_UP = FrameDirection.UPSTREAM

# The audio loop yields after this many items handled without a pause (writes that fail
# at once on a closed socket never sleep).
_YIELD_EVERY = 64


@runtime_checkable
class TransportWriter(Protocol):
    """What the output needs from a connection (a WebSocket session or client wrapper)."""

    @property
    def is_connected(self) -> bool:
        """The connection is open (and not closed by either side)."""
        ...

    @property
    def is_closing(self) -> bool:
        """We have started closing it."""
        ...

    async def send(self, data: str | bytes) -> bool:
        """Send one message (``str``: text, ``bytes``: binary); False if it was not sent.

        Errors are logged and reported as False, never raised. It may block while the
        peer is slow to read; the output bounds it with its write timeout.
        """
        ...


class BaseOutputTransport(TransportHalf):
    """The sending half of a transport (see the module docstring).

    Args:
        params: the transport's settings (a copy is kept). WebSocket params add
            ``add_wav_header`` and ``fixed_audio_packet_size``, read here when present.
        writer: the connection to send through (or set later with :meth:`set_writer`).
        serializer: encodes frames (default: ``params.serializer`` if any).
        name: processor name.
    """

    #: Serialize and send the ``InterruptionFrame``, and restart pacing, on interruption
    #: (the server transport does; Pipecat's client does neither).
    send_interruptions: ClassVar[bool] = False
    #: Serialize and send ``EndFrame``/``CancelFrame`` when stopping (server: yes).
    send_end_frames: ClassVar[bool] = False
    #: How many chunk intervals a late, busy stream may catch up (see ``pacing``).
    AUDIO_OUT_CATCH_UP_CHUNKS: ClassVar[int] = 2

    def __init__(
        self,
        params: TransportParams,
        *,
        writer: TransportWriter | None = None,
        serializer: Any | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(params, serializer=serializer, name=name)
        self._writer = writer
        self._add_wav = bool(getattr(params, "add_wav_header", False))
        packet_size = getattr(params, "fixed_audio_packet_size", None)
        self._packetizer = Packetizer(packet_size) if packet_size else None
        self._rate = 0
        self._chunk_bytes = 0
        self._chunker: AudioChunker | None = None
        self._pacer: Pacer | None = None
        self._resampler: Resampler | None = None
        self._last_audio: tuple[type[OutputAudioRawFrame], bool] = (OutputAudioRawFrame, True)
        self._queue: deque[Frame] = deque()
        self._queue_ready = Wakeup()
        self._audio_scope: trio.CancelScope | None = None
        self._audio_done: trio.Event | None = None
        self._sleep_scope: trio.CancelScope | None = None
        self._pace_until = -math.inf  # the next item waits until then (lazy pacing)
        self._backlog = False
        self._speech = BotSpeech()
        self._interruptions = 0  # a write that overlapped one does not restart speech
        self._send_lock = trio.Lock()
        self._started = False
        self._unusable = False
        self._timed_out = False
        #: Frames lost because the serializer raised on them.
        self.dropped_frames = 0
        track(self, "output_transport")  # read by trio_pipe.metrics when active
        self._backlog_bound = AudioBacklog(None, self)  # sized at start

    # --- properties ----------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Output sample rate (0 before start): the param, else the StartFrame's."""
        return self._rate

    @property
    def audio_chunk_size(self) -> int:
        """Bytes per outgoing audio chunk (0 before start)."""
        return self._chunk_bytes

    @property
    def dropped_audio_chunks(self) -> int:
        """Audio chunks dropped, oldest first, because the backlog passed
        ``audio_out_max_backlog_secs``."""
        return self._backlog_bound.dropped

    @property
    def is_usable(self) -> bool:
        """False once a write timed out or was cut short."""
        return not self._unusable

    def set_writer(self, writer: TransportWriter | None) -> None:
        """Attach (or detach) the connection to send through."""
        self._writer = writer

    # --- lifecycle (subclasses extend, calling super() first) --------------------------------

    async def start(self, frame: StartFrame) -> None:
        """Resolve rate and chunk size, set the serializer up, start the audio loop."""
        if self._started:
            return
        params = self._params
        channels = params.audio_out_channels
        self._rate = params.audio_out_sample_rate or frame.audio_out_sample_rate
        self._chunk_bytes = (self._rate // 100) * channels * 2 * params.audio_out_10ms_chunks
        self._chunker = AudioChunker(self._chunk_bytes)
        interval = send_interval(self._chunk_bytes, self._rate, channels)
        backlog = params.audio_out_max_backlog_secs
        if backlog is not None:
            self._backlog_bound.limit = max(1, math.ceil(backlog / interval))
        self._pacer = Pacer(interval, max_catch_up=self.AUDIO_OUT_CATCH_UP_CHUNKS)
        if self._serializer is not None:
            await self._serializer.setup(frame)
        self._audio_scope = trio.CancelScope()
        self._audio_done = trio.Event()
        self.start_soon(self._audio_loop, self._audio_scope, self._audio_done)
        self._started = True

    async def stop(self, frame: EndFrame) -> None:
        """Play out everything queued (tail included), the end silence, then send End."""
        if self._audio_done is not None and not self._audio_done.is_set():
            self._flush_audio()
            self._enqueue(frame)
            await self._audio_done.wait()
        if self.send_end_frames:
            await self._write_frame(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        """Drop queued audio and stop the audio loop at once, then send Cancel."""
        self._stop_audio()
        if self.send_end_frames:
            await self._write_frame(frame)

    async def cleanup(self) -> None:
        """Stop the audio loop (idempotent)."""
        self._stop_audio()
        await super().cleanup()

    def _stop_audio(self) -> None:
        self._queue.clear()
        self._backlog_bound.queued = 0
        if self._audio_scope is not None:
            self._audio_scope.cancel()

    async def on_write_timeout(self) -> None:
        """Called once when a write timed out; subclasses fail the connection here."""

    # --- routing -------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Route a frame: lifecycle, interruption, urgent messages, or the audio queue."""
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)  # every processor starts before any data
            await self.start(frame)
            await self.push_frame(OutputTransportReadyFrame(), _UP)
        elif isinstance(frame, EndFrame):
            await self.stop(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, CancelFrame):
            await self.cancel(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self.push_frame(frame, direction)
            await self._handle_interruption(frame)
        elif isinstance(frame, OutputTransportMessageUrgentFrame):
            await self.send_message(frame)  # overtakes queued audio; not forwarded
        elif isinstance(frame, SystemFrame) or direction is _UP:
            await self.push_frame(frame, direction)
        elif isinstance(frame, OutputAudioRawFrame):
            await self.handle_audio_frame(frame)
        elif isinstance(frame, TTSStoppedFrame):
            self._flush_audio()
            self._enqueue(frame)
        else:
            self._enqueue(frame)

    async def handle_audio_frame(self, frame: OutputAudioRawFrame) -> None:
        """Resample, buffer and queue full chunks (dropped when audio out is disabled)."""
        if not self._params.audio_out_enabled or self._chunker is None:
            return
        audio = self._resample(frame)
        cls = type(frame)
        self._last_audio = (cls, frame.interruptible)
        for chunk, interruptible in self._chunker.add(audio, interruptible=frame.interruptible):
            self._enqueue_chunk(cls, chunk, frame.num_channels, interruptible)

    def _resample(self, frame: OutputAudioRawFrame) -> bytes:
        if frame.sample_rate == self._rate:
            return frame.audio
        resampler = self._resampler
        if (
            resampler is None
            or resampler.in_rate != frame.sample_rate
            or resampler.channels != frame.num_channels
        ):
            resampler = self._resampler = Resampler(
                frame.sample_rate, self._rate, frame.num_channels
            )
        return resampler.resample(frame.audio)

    def _flush_audio(self) -> None:
        """Queue what is held back (resampler tail, partial chunk padded with zeros)."""
        chunker = self._chunker
        if chunker is None:
            return
        cls, interruptible = self._last_audio
        channels = self._params.audio_out_channels
        if self._resampler is not None:
            for chunk, chunk_interruptible in chunker.add(
                self._resampler.flush(), interruptible=interruptible
            ):
                self._enqueue_chunk(cls, chunk, channels, chunk_interruptible)
        rest = chunker.flush()
        if rest is not None:
            self._enqueue_chunk(cls, rest[0], channels, rest[1])

    def _enqueue_chunk(
        self, cls: type[OutputAudioRawFrame], audio: bytes, channels: int, interruptible: bool
    ) -> None:
        try:
            chunk = cls(audio=audio, sample_rate=self._rate, num_channels=channels)
        except TypeError:  # a subclass with required fields of its own
            chunk = OutputAudioRawFrame(audio=audio, sample_rate=self._rate, num_channels=channels)
        chunk.interruptible = interruptible
        self._enqueue(chunk)
        self._backlog_bound.added(self._queue)

    def _enqueue(self, frame: Frame) -> None:
        self._queue.append(frame)
        self._queue_ready.wake()

    async def _handle_interruption(self, frame: InterruptionFrame) -> None:
        """Drop queued and buffered interruptible audio; (server) tell the peer, re-pace."""
        queue = self._queue
        kept = [f for f in queue if not f.interruptible]
        queue.clear()
        queue.extend(kept)
        self._backlog_bound.recount(queue)
        self._interruptions += 1
        if self._chunker is not None:
            self._chunker.drop_interruptible()
        if self._resampler is not None:
            self._resampler.reset()
        if self._packetizer is not None:
            self._packetizer.clear()
        if self.send_interruptions:
            await self._write_frame(frame)
            if self._pacer is not None:
                self._pacer.reset()
            self._pace_until = -math.inf
            if self._sleep_scope is not None:
                self._sleep_scope.cancel()  # new audio must not wait out the old chunk
        if not any(isinstance(f, OutputAudioRawFrame) for f in queue):
            await self._announce(self._speech.stop())

    async def _announce(self, frame_classes: list[type[Frame]]) -> None:
        """Broadcast the bot speaking frames :class:`BotSpeech` asked for."""
        for cls in frame_classes:
            await self.broadcast_frame(cls)

    # --- the audio loop --------------------------------------------------------------------

    async def _audio_loop(self, scope: trio.CancelScope, done: trio.Event) -> None:
        queue = self._queue
        handled = 0
        with scope:
            try:
                while True:
                    idle = not queue
                    while not queue:
                        handled = 0
                        quiet_at = self._speech.quiet_deadline(self._pace_until)
                        if quiet_at is None:
                            await self._queue_ready.park()
                            continue
                        with trio.move_on_at(quiet_at):
                            await self._queue_ready.park()
                        if not queue:  # nothing played for stop_secs: speech is over
                            await self._announce(self._speech.stop())
                    # The pacing wait of the last write, taken only now: audio that
                    # comes live, one chunk at a time, is usually later than it, so no
                    # timer at all (a sleep costs a cancel scope and an exception).
                    waited = await self._wait_pace()
                    if not queue:
                        continue  # an interruption emptied it meanwhile
                    frame = queue.popleft()
                    self._backlog_bound.taken(frame)
                    if isinstance(frame, EndFrame):
                        await self._announce(self._speech.stop())
                        await self._write_end_silence()
                        await self._wait_pace()
                        return
                    if isinstance(frame, OutputAudioRawFrame):
                        if not frame.audio:
                            continue
                        self._backlog = waited or not idle
                        interruptions = self._interruptions
                        if await self._write_audio_bounded(frame):
                            if interruptions == self._interruptions:
                                now = trio.current_time()
                                await self._announce(self._speech.chunk_played(now))
                            await self.push_frame(frame)
                    elif isinstance(frame, OutputTransportMessageFrame):
                        await self.send_message(frame)
                        await self.push_frame(frame)
                    else:
                        if isinstance(frame, TTSStoppedFrame):
                            await self._announce(self._speech.stop())
                        await self.write_transport_frame(frame)
                        await self.push_frame(frame)
                    handled += 1
                    if handled >= _YIELD_EVERY:
                        handled = 0
                        await trio.lowlevel.checkpoint()
            finally:
                done.set()

    async def _write_end_silence(self) -> None:
        secs = self._params.audio_out_end_silence_secs
        if secs <= 0 or not self._params.audio_out_enabled:
            return
        channels = self._params.audio_out_channels
        audio = silence(sample_rate=self._rate, num_channels=channels, seconds=secs)
        self._backlog = True
        await self._write_audio_bounded(
            OutputAudioRawFrame(audio=audio, sample_rate=self._rate, num_channels=channels)
        )

    async def _write_audio_bounded(self, frame: OutputAudioRawFrame) -> bool:
        """One audio write (send + pacing), bounded by the write timeout."""
        if self._unusable:
            return False
        timeout = self._params.audio_out_write_timeout_secs
        ok = False
        with trio.move_on_after(timeout) as scope:
            try:
                ok = await self.write_audio_frame(frame)
            except Exception:
                logger.exception("%s: error writing %s", self, frame)
        if scope.cancelled_caught:
            await self._write_timed_out(timeout)
            return False
        return ok

    # --- writing (override for non-writer transports) ---------------------------------------

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Send one chunk, then sleep by the pacing schedule; False if it was not sent.

        The chunk goes out as a plain ``OutputAudioRawFrame`` at the transport's rate and
        channel count, WAV-wrapped when ``add_wav_header`` is set.
        """
        if not self._connected():
            return False
        channels = self._params.audio_out_channels
        if (
            type(frame) is OutputAudioRawFrame
            and not self._add_wav
            and frame.sample_rate == self._rate
            and frame.num_channels == channels
        ):
            out = frame  # already what would be rebuilt (the usual chunk): save a frame
        else:
            audio = frame.audio
            if self._add_wav:
                audio = add_wav_header(audio, self._rate, channels)
            out = OutputAudioRawFrame(audio=audio, sample_rate=self._rate, num_channels=channels)
        if not await self._write_frame(out):
            return False
        await self._pace()
        return True

    async def send_message(
        self, frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame
    ) -> None:
        """Send a transport message (skipped quietly when not connected)."""
        await self._write_frame(frame)

    async def write_transport_frame(self, frame: Frame) -> None:
        """Hook for other frames leaving the audio queue, after the audio before them."""

    async def _pace(self) -> None:
        """Note when the next item may leave (the audio loop waits before taking it)."""
        pacer = self._pacer
        if pacer is None:
            return
        self._pace_until = pacer.after_write(trio.current_time(), backlog=self._backlog)

    async def _wait_pace(self) -> bool:
        """Sleep until the pacing schedule lets the next item go; True if it had to."""
        until = self._pace_until
        if until <= trio.current_time():
            return False
        with trio.CancelScope() as scope:  # an interruption may cut the wait short
            self._sleep_scope = scope
            await trio.sleep_until(until)
        self._sleep_scope = None
        return True

    def _connected(self) -> bool:
        writer = self._writer
        return (
            writer is not None
            and not self._unusable
            and writer.is_connected
            and not writer.is_closing
        )

    async def _write_frame(self, frame: Frame) -> bool:
        """Serialize and send ``frame``; True when taken (sent, or nothing to send)."""
        if not self._connected():
            return False
        serializer = self._serializer
        if serializer is None:
            return True
        try:
            payload = await serializer.serialize(frame)
        except Exception:
            self.dropped_frames += 1
            logger.exception("%s: serializer failed on %s; frame dropped", self, frame)
            return False
        if not payload:
            return True
        return await self._send_payload(payload, audio=isinstance(frame, OutputAudioRawFrame))

    async def _send_payload(self, payload: str | bytes, *, audio: bool) -> bool:
        """Send one payload (audio in fixed-size packets when configured) under the lock."""
        writer = self._writer
        if writer is None:
            return False
        if audio and self._packetizer is not None and isinstance(payload, bytes | bytearray):
            parts: list[str | bytes] = list(self._packetizer.feed(payload))
            if not parts:
                return True
        else:
            parts = [payload]
        timeout = self._params.audio_out_write_timeout_secs
        ok = True
        with trio.move_on_after(timeout) as scope:
            async with self._send_lock:
                for part in parts:
                    if not self._connected():
                        return False
                    try:
                        sent = await writer.send(part)
                    except trio.Cancelled:
                        # Part of the message may be on the wire: nothing may follow it.
                        self._unusable = True
                        raise
                    except Exception:
                        logger.exception("%s: send failed", self)
                        sent = False
                    ok = ok and bool(sent)
        if scope.cancelled_caught:
            await self._write_timed_out(timeout)
            return False
        return ok

    async def _write_timed_out(self, after_secs: float) -> None:
        self._unusable = True
        if self._timed_out:
            return
        self._timed_out = True
        await self.push_error(
            f"{self} timed out after {after_secs}s writing to the transport; "
            "the peer has stopped reading"
        )
        await self.on_write_timeout()
