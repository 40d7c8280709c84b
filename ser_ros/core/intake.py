# Copyright 2026 The ser_ros authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Audio intake: everything the node does with an audio message before the recogniser, without ROS.

A message is decoded (:class:`~ser_ros.core.audio.StreamDecoder`), admitted or rejected with a
reason (no format yet, empty, too long, malformed), timed (its header stamp, or the
:class:`SampleClock` of unstamped audio) and put on a bounded queue that the inference thread
takes from. When inference falls behind by more than ``max_queue_s`` the oldest audio is
dropped. Every rejection and drop is counted in a :class:`~ser_ros.core.health.StreamHealth`,
and warned about through the given logger (throttled there). The node and the offline bag run
use this same class, so a bag replayed offline is timed and admitted as the node would.
"""

from collections import deque
from dataclasses import dataclass
import threading
from typing import Protocol

import numpy as np
from ser_ros.core.audio import AudioFormat, AudioFormatError, StreamDecoder
from ser_ros.core.health import StreamHealth

#: An unstamped stream whose sample clock falls this far behind arrival is re-anchored [s].
RESYNC_S = 1.0


class Logger(Protocol):
    """What the intake logs through: rclpy's node logger and :mod:`logging` loggers alike."""

    def info(self, message: str) -> object: ...  # noqa: D102

    def warning(self, message: str) -> object: ...  # noqa: D102


class SampleClock:
    """
    Stream time of audio chunks that carry no stamp.

    Time follows the sample count from the first chunk's arrival, so that message jitter does
    not shake the stamps. After a gap in the stream (a chunk arriving later than the sample
    clock by more than ``resync_s``) it jumps forward to the arrival time; audio arriving faster
    than real time (a burst, a fast replay) keeps the sample clock, so stamps always increase.

    Parameters
    ----------
    resync_s : float
        Lag of the sample clock behind arrival that re-anchors it [s].

    """

    def __init__(self, resync_s: float = RESYNC_S) -> None:
        self.resync_s = resync_s
        self._next_start_s: float | None = None

    def start_of(self, duration_s: float, arrival_s: float) -> float:
        """
        Return the stream time of a chunk's first sample [s].

        Parameters
        ----------
        duration_s : float
            Audio in the chunk [s].
        arrival_s : float
            When the chunk arrived (its last sample) [s].

        """
        arrival_start_s = arrival_s - duration_s
        if self._next_start_s is None or arrival_start_s - self._next_start_s > self.resync_s:
            self._next_start_s = arrival_start_s
        start_s = self._next_start_s
        self._next_start_s += duration_s
        return start_s


@dataclass(frozen=True)
class AudioChunk:
    """
    Decoded audio waiting for the recogniser.

    Attributes
    ----------
    samples : numpy.ndarray, shape (n_samples,), float32
        Mono audio at the model rate.
    start_s : float
        Stream time of the first sample [s].
    frame_id : str
        The stamped input's frame_id ('' for AudioData).

    """

    samples: np.ndarray
    start_s: float
    frame_id: str


class AudioIntake:
    """
    Decode, admit, time and queue audio messages; thread-safe (one lock owns the queue).

    Parameters
    ----------
    target_rate_hz : int
        The model's sample rate [Hz].
    health : StreamHealth
        Where rejections, drops and format changes are counted.
    logger : Logger
        Where format changes are logged (INFO) and rejections and drops warned (throttled).
    max_queue_s : float
        Audio waiting beyond this is dropped, oldest first [s].
    max_chunk_s : float
        Messages holding more audio than this are rejected [s].

    """

    def __init__(self, target_rate_hz: int, health: StreamHealth, logger: Logger,
                 max_queue_s: float = 10.0, max_chunk_s: float = 10.0) -> None:
        self.target_rate_hz = int(target_rate_hz)
        self.health = health
        self.logger = logger
        self.max_queue_s = max_queue_s
        self.max_chunk_s = max_chunk_s
        self.audio_format: AudioFormat | None = None
        self.decoder: StreamDecoder | None = None
        self.clock = SampleClock()
        self._lock = threading.Condition()
        self._queue: deque[AudioChunk] = deque()
        self._queued_samples = 0
        self._in_hand_samples = 0
        self._reset_requested = False
        self._open = True

    # ----------------------------------------------------------------------------------- format
    def set_format(self, audio_format: AudioFormat, source: str) -> None:
        """
        Decode the stream as ``audio_format`` from now on; a change resets the queued audio.

        An unusable format is rejected (counted, warned) and leaves no decoder: audio is then
        rejected as ``no_format`` until a usable format arrives.

        Parameters
        ----------
        audio_format : AudioFormat
            The stream's format.
        source : str
            Where the format came from, for the log (``'AudioInfo'``, ``'parameters'``).

        """
        if audio_format == self.audio_format and self.decoder is not None:
            return
        try:
            decoder = StreamDecoder(audio_format, self.target_rate_hz)
        except AudioFormatError as error:
            self.decoder = None
            self._reject('format', f'unusable audio format from {source}: {error}')
            return
        changed = self.audio_format is not None and audio_format != self.audio_format
        # The sample clock of unstamped audio runs on (it only ever jumps forward), so that
        # the stamps of the estimates keep increasing across a format change.
        self.decoder, self.audio_format = decoder, audio_format
        if changed:
            self.health.count('format_changes')
            note = self.health.note('format_change', f'audio format changed to {audio_format}: '
                                    'buffers reset')
            if note:
                self.logger.info(note)
            with self._lock:
                self._queue.clear()
                self._queued_samples = 0
                self._reset_requested = True

    # ------------------------------------------------------------------------------------ audio
    def accept(self, payload: bytes, stamp_s: float | None, arrival_s: float,
               frame_id: str = '') -> bool:
        """
        Decode one message and queue its samples; reject (count, warn) what cannot be used.

        Parameters
        ----------
        payload : bytes-like
            ``AudioData.data``.
        stamp_s : float or None
            The header stamp of stamped input [s]; None times the chunk by the sample clock.
        arrival_s : float
            Arrival time [s] (the clock of the estimates for unstamped input).
        frame_id : str
            The stamped input's frame_id.

        Returns
        -------
        bool
            Whether the message was queued.

        """
        self.health.count('messages')
        self.health.heard_audio()
        decoder, audio_format = self.decoder, self.audio_format
        if decoder is None or audio_format is None:
            return self._reject('no_format', 'audio arrived before a usable format')
        if len(payload) == 0:
            return self._reject('empty', 'empty audio message')
        if audio_format.coding == 'pcm' and len(payload) > \
                self.max_chunk_s * audio_format.sample_rate * audio_format.bytes_per_frame:
            return self._reject('huge', f'audio message of {len(payload)} bytes exceeds '
                                'max_chunk_s')
        skipped_before = decoder.undecodable_packets
        try:
            samples = decoder.decode(payload)
        except AudioFormatError as error:
            return self._reject('malformed', str(error))
        skipped = decoder.undecodable_packets - skipped_before
        if skipped:
            self._reject('undecodable', f'{skipped} undecodable {audio_format.coding} packets '
                         'skipped')
        if len(samples) == 0:
            # A partial mp3 frame or the resampler's delay: nothing to queue yet, unless the
            # stream has stopped yielding audio altogether.
            if decoder.stalled:
                return self._reject('undecodable', f'no audio decoded from the last '
                                    f'{decoder.bytes_without_audio} bytes of '
                                    f'{audio_format.coding}')
            return True
        if len(samples) > self.max_chunk_s * self.target_rate_hz:
            return self._reject('huge', 'decoded audio message exceeds max_chunk_s')
        duration_s = len(samples) / self.target_rate_hz
        start_s = stamp_s if stamp_s is not None else self.clock.start_of(duration_s, arrival_s)
        dropped = 0
        with self._lock:
            self._queue.append(AudioChunk(samples, start_s, frame_id))
            self._queued_samples += len(samples)
            while self._queued_samples > self.max_queue_s * self.target_rate_hz and \
                    len(self._queue) > 1:
                old = self._queue.popleft().samples
                self._queued_samples -= len(old)
                dropped += len(old)
            self._lock.notify()
        if dropped:
            warning = self.health.drop(dropped, self.target_rate_hz)
            if warning:
                self.logger.warning(warning)
        return True

    def take(self, wait_s: float | None = 0.5) -> tuple[list[AudioChunk], bool] | None:
        """
        Take every queued chunk, waiting for one when ``wait_s`` is given.

        Parameters
        ----------
        wait_s : float or None
            Longest single wait for audio [s]; the call waits until audio arrives or the intake
            is closed, waking every ``wait_s``. None returns at once.

        Returns
        -------
        (chunks, reset) or None
            The chunks in arrival order, and whether the recogniser must start a new stream
            first (the format changed); None once :meth:`close` was called.

        """
        with self._lock:
            while wait_s is not None and self._open and not self._queue:
                self._lock.wait(wait_s)
            if not self._open:
                return None
            chunks = list(self._queue)
            self._queue.clear()
            self._in_hand_samples += self._queued_samples
            self._queued_samples = 0
            reset, self._reset_requested = self._reset_requested, False
        return chunks, reset

    def done(self, chunk: AudioChunk) -> None:
        """Note that a taken chunk has been processed (see :attr:`backlog_s`)."""
        with self._lock:
            self._in_hand_samples = max(0, self._in_hand_samples - len(chunk.samples))

    @property
    def queued_s(self) -> float:
        """Return the audio waiting in the queue [s]."""
        with self._lock:
            return self._queued_samples / self.target_rate_hz

    @property
    def backlog_s(self) -> float:
        """Return the audio not yet processed: queued, and taken but not :meth:`done` [s]."""
        with self._lock:
            return (self._queued_samples + self._in_hand_samples) / self.target_rate_hz

    def reopen(self) -> None:
        """Start (again) to hand out audio: :meth:`take` waits for it."""
        with self._lock:
            self._open = True

    def close(self) -> None:
        """Wake a waiting :meth:`take` and make it return None; forget the queued audio."""
        with self._lock:
            self._open = False
            self._queue.clear()
            self._queued_samples = self._in_hand_samples = 0
            self._lock.notify_all()

    def _reject(self, kind: str, reason: str) -> bool:
        warning = self.health.reject(kind, reason)
        if warning:
            self.logger.warning(warning)
        return False
