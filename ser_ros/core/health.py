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
The health of an audio stream: counters, load, and the diagnostic level they add up to.

Written by the audio callback (counts, rejections) and the inference thread (load), read by the
diagnostics timer: one lock owns all of it. The level follows ``diagnostic_msgs`` (0 OK, 1 WARN,
2 ERROR) without importing it; the node turns a :class:`HealthReport` into a DiagnosticStatus.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import threading
import time

OK, WARN, ERROR = 0, 1, 2
#: At most one warning of each kind per this many seconds.
WARN_PERIOD_S = 5.0
#: No audio for this long while active is worth a warning [s].
STALE_AUDIO_S = 5.0
#: Kinds of rejected audio, each counted as ``rejected_<kind>``.
REJECTION_KINDS = ('malformed', 'undecodable', 'format', 'no_format', 'empty', 'huge')
#: Counters reported in every :class:`HealthReport`.
COUNTERS = ('messages', 'rejected', *(f'rejected_{kind}' for kind in REJECTION_KINDS),
            'format_changes', 'speaker_changes', 'windows', 'speech_windows', 'published')


@dataclass(frozen=True)
class HealthReport:
    """
    One diagnostics period.

    Attributes
    ----------
    level : int
        :data:`OK`, :data:`WARN` or :data:`ERROR`.
    message : str
        Why the level is what it is (the lifecycle state when OK).
    values : dict of str to str
        Every figure, for the diagnostics' key-value list.

    """

    level: int
    message: str
    values: dict[str, str]


class StreamHealth:
    """
    Counters and load of one stream, and the throttling of its warnings.

    Parameters
    ----------
    warn_period_s : float
        At most one warning of each kind per this many seconds.
    clock : callable
        Monotonic time [s] (a test may pass its own).

    """

    def __init__(self, warn_period_s: float = WARN_PERIOD_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.warn_period_s = warn_period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._reported: Counter[str] = Counter()
        self._last_warning: dict[str, float] = {}
        self._last_audio_s: float | None = None
        self._load = {'compute_s': 0.0, 'audio_s': 0.0, 'windows': 0}

    def count(self, key: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``key``."""
        with self._lock:
            self._counts[key] += amount

    def counts(self) -> dict[str, int]:
        """Return a copy of every counter."""
        with self._lock:
            return dict(self._counts)

    def heard_audio(self) -> None:
        """Note that an audio message arrived now."""
        with self._lock:
            self._last_audio_s = self._clock()

    def reject(self, kind: str, reason: str) -> str | None:
        """
        Count a rejected message of ``kind``; return a warning to log, or None (throttled).

        Parameters
        ----------
        kind : str
            One of :data:`REJECTION_KINDS`.
        reason : str
            What was wrong with it.

        """
        with self._lock:
            self._counts['rejected'] += 1
            self._counts[f'rejected_{kind}'] += 1
            return self._warning(kind, f'rejected audio: {reason}')

    def drop(self, samples: int, rate_hz: int) -> str | None:
        """Count dropped samples; return a warning to log, or None (throttled)."""
        with self._lock:
            self._counts['dropped_samples'] += samples
            return self._warning('drop', f'inference cannot keep up: dropped '
                                 f'{samples / rate_hz:.2f} s of the oldest audio')

    def note(self, kind: str, text: str) -> str | None:
        """Return ``text`` to log, or None when a note of ``kind`` was given recently."""
        with self._lock:
            return text if self._due(kind) else None

    def record_work(self, compute_s: float, audio_s: float, windows: int,
                    speech_windows: int, published: int) -> None:
        """Add the inference thread's work on one chunk to the load and the counters."""
        with self._lock:
            self._load['compute_s'] += compute_s
            self._load['audio_s'] += audio_s
            self._load['windows'] += windows
            self._counts['windows'] += windows
            self._counts['speech_windows'] += speech_windows
            self._counts['published'] += published

    def report(self, state: str, has_format: bool, queued_s: float, warn_rtf: float,
               rate_hz: int, backlog_s: float | None = None) -> HealthReport:
        """
        Sum up the period since the last report and start a new one.

        Parameters
        ----------
        state : str
            Lifecycle state (``'active'`` enables the no-format and no-audio checks).
        has_format : bool
            Whether a usable stream format is known.
        queued_s : float
            Audio waiting in the queue [s].
        warn_rtf : float
            Real-time factor above which the load is a warning.
        rate_hz : int
            The model rate [Hz], to report dropped samples in seconds.
        backlog_s : float, optional
            Audio not yet processed, queued or in the worker's hands [s]; ``queued_s`` when
            None.

        """
        with self._lock:
            load, self._load = self._load, {'compute_s': 0.0, 'audio_s': 0.0, 'windows': 0}
            counts = Counter(self._counts)
            news = any(counts[key] > self._reported[key]
                       for key in ('rejected', 'dropped_samples'))
            self._reported = counts
            since_audio = (None if self._last_audio_s is None
                           else self._clock() - self._last_audio_s)
        rtf = load['compute_s'] / load['audio_s'] if load['audio_s'] else 0.0
        level, message = OK, state
        if state == 'active' and not has_format:
            level, message = ERROR, 'no usable audio format'
        elif rtf > 1.0:
            level, message = ERROR, f'slower than real time (RTF {rtf:.2f})'
        elif rtf > warn_rtf:
            level, message = WARN, f'high load (RTF {rtf:.2f})'
        elif news:
            level, message = WARN, 'audio rejected or dropped recently'
        elif state == 'active' and (since_audio is None or since_audio > STALE_AUDIO_S):
            level, message = WARN, 'no audio received'
        windows = load['windows']
        values = {
            'real_time_factor': f'{rtf:.4f}',
            'processing_ms_per_window': f'{1000 * load["compute_s"] / windows:.2f}'
            if windows else '0',
            'queue_s': f'{queued_s:.3f}',
            'backlog_s': f'{queued_s if backlog_s is None else backlog_s:.3f}',
            'dropped_s': f'{counts["dropped_samples"] / rate_hz:.3f}',
            **{key: str(counts[key]) for key in COUNTERS},
        }
        return HealthReport(level, message, values)

    def _due(self, kind: str) -> bool:
        """Return whether a message of ``kind`` may be logged now (and note that it is)."""
        now = self._clock()
        if now - self._last_warning.get(kind, -self.warn_period_s) < self.warn_period_s:
            return False
        self._last_warning[kind] = now
        return True

    def _warning(self, kind: str, text: str) -> str | None:
        if not self._due(kind):
            return None
        return (f'{text} ({self._counts["rejected"]} rejected, '
                f'{self._counts["dropped_samples"]} samples dropped so far)')
