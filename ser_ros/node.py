"""
``ser_node``: the ROS 2 lifecycle node that turns audio into smoothed emotion estimates.

Subscribes (while active)
    ``/audio/audio`` (audio_common_msgs/AudioData, sensor-data QoS) or, with
    ``stamped_input``, ``/audio/audio_stamped`` (AudioDataStamped); ``/audio/audio_info``
    (AudioInfo, reliable + transient local) for the stream format.
Publishes
    ``emotion`` (vision_msgs/Classification): every label with its smoothed probability,
    best first, stamped with the audio time at the end of the window;
    ``emotion/label_info`` (vision_msgs/LabelInfo, transient local): the class map;
    ``emotion/raw`` (Classification, with ``publish_raw``): the BiLSTM's own output;
    ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): load, queue, drops, rejects, state.

The audio callback only decodes and queues; a worker thread runs the recogniser, so inference
never blocks the executor. Everything about recognition lives in the ROS-free core
(:mod:`ser_ros.recognizer`); this module only adapts it to ROS.
"""

from collections import Counter, deque
import signal
import threading
import time

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header
from vision_msgs.msg import Classification, LabelInfo, ObjectHypothesis, VisionClass

from ser_ros.audio import AudioFormat, AudioFormatError, StreamDecoder
from ser_ros.bundle import BundleError, default_model_path, load_bundle
from ser_ros.qos import LATCHED
from ser_ros.recognizer import configure_torch, StreamingRecognizer
from ser_ros.settings import check_parameter, PARAMETERS

#: An unstamped stream whose sample clock falls this far behind arrival is re-anchored [s].
RESYNC_S = 1.0
#: At most one warning of each kind per this many seconds.
WARN_PERIOD_S = 5.0
#: No audio for this long while active is worth a diagnostics warning [s].
STALE_AUDIO_S = 5.0

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def to_time(seconds):
    """Convert seconds to a builtin_interfaces/Time."""
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def to_seconds(stamp):
    """Convert a builtin_interfaces/Time to seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def classification(header, labels, probabilities):
    """Return a Classification with every label, most probable first."""
    order = sorted(range(len(labels)), key=lambda index: -probabilities[index])
    return Classification(header=header, results=[
        ObjectHypothesis(class_id=labels[index], score=float(probabilities[index]))
        for index in order])


class EmotionRecognizerNode(LifecycleNode):
    """Speech emotion recognition as a managed node (see the module docstring)."""

    def __init__(self, node_name='ser_node', **kwargs):
        super().__init__(node_name, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description + (' (fixed while configured)' if spec.fixed
                                                else '')))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._state = 'unconfigured'
        self._lock = threading.Condition()
        self._queue = deque()
        self._queued_samples = 0
        self._counts = Counter()
        self._last_warning = {}
        self._worker = None
        self._running = False
        self._reset_requested = False
        self._inputs = []
        self._outputs = {}
        self._diagnostics_publisher = None
        self._diagnostics_timer = None
        self.recognizer = None
        self._decoder = None
        self._format = None
        self._stream_clock_s = None
        self._last_audio_monotonic = None
        self._load = {'compute_s': 0.0, 'audio_s': 0.0, 'windows': 0}
        self._reported = {}
        self._pending_dwell = None

    # ----------------------------------------------------------------------------- parameters
    def _param(self, name):
        return self.get_parameter(name).value

    def _on_set_parameters(self, parameters):
        configured = self._state in ('inactive', 'active')
        for parameter in parameters:
            problem = check_parameter(parameter.name, parameter.value, configured)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for parameter in parameters:
            if parameter.name == 'dwell_s' and self.recognizer is not None:
                with self._lock:
                    self._pending_dwell = parameter.value
        return SetParametersResult(successful=True)

    def _dwell(self, value, bundle):
        return bundle.streaming.dwell_s if value < 0 else value

    # ------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state):
        """Load the model and make the publishers; fail with the reason logged."""
        problems = [check_parameter(spec.name, self._param(spec.name), False)
                    for spec in PARAMETERS]
        problems = [problem for problem in problems if problem]
        if problems:
            self.get_logger().error('cannot configure: ' + '; '.join(problems))
            return TransitionCallbackReturn.FAILURE
        model_path = self._param('model_path') or default_model_path()
        try:
            bundle = load_bundle(model_path)
            configure_torch(self._param('torch_threads'))
            self.recognizer = StreamingRecognizer(
                bundle, window_s=self._param('window_s') or None,
                hop_s=self._param('hop_s') or None,
                dwell_s=self._dwell(self._param('dwell_s'), bundle),
                adapt_normalisation=self._param('adapt_normalisation'),
                norm_horizon_s=self._param('norm_horizon_s') or None)
        except (BundleError, ValueError) as error:
            self.get_logger().error(f'cannot configure with model {model_path}: {error}')
            return TransitionCallbackReturn.FAILURE
        self.recognizer.warm_up()
        self._pending_dwell = None
        self._outputs = {
            'emotion': self.create_lifecycle_publisher(Classification, 'emotion', RELIABLE),
            'raw': self.create_lifecycle_publisher(Classification, 'emotion/raw', RELIABLE),
            'label_info': self.create_lifecycle_publisher(LabelInfo, 'emotion/label_info',
                                                          LATCHED),
        }
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics',
                                                            RELIABLE)
        self._diagnostics_timer = self.create_timer(self._param('diagnostics_period_s'),
                                                    self._publish_diagnostics)
        self._set_format(AudioFormat(self._param('channels'), self._param('sample_rate'),
                                     self._param('sample_format'),
                                     self._param('coding_format')), 'parameters')
        self._state = 'inactive'
        self.get_logger().info(
            f'configured: model {bundle.name} ({model_path}), labels {bundle.labels}, window '
            f'{self.recognizer.window_s} s, hop {self.recognizer.hop_s} s, dwell '
            f'{self.recognizer.dwell_s} s')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        """Subscribe to the audio, start the worker and latch the label map."""
        result = super().on_activate(state)
        reliability = (ReliabilityPolicy.BEST_EFFORT
                       if self._param('audio_qos_reliability') == 'best_effort'
                       else ReliabilityPolicy.RELIABLE)
        audio_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST,
                               depth=self._param('audio_qos_depth'), reliability=reliability,
                               durability=DurabilityPolicy.VOLATILE)
        # The format first: when both are waiting, the executor serves the older subscription.
        info = self.create_subscription(AudioInfo, self._param('audio_info_topic'),
                                        self._on_audio_info, LATCHED)
        if self._param('stamped_input'):
            audio = self.create_subscription(AudioDataStamped, self._param('audio_stamped_topic'),
                                             self._on_audio_stamped, audio_qos)
        else:
            audio = self.create_subscription(AudioData, self._param('audio_topic'),
                                             self._on_audio, audio_qos)
        self._inputs = [info, audio]
        labels = self.recognizer.labels
        self._outputs['label_info'].publish(LabelInfo(
            header=Header(stamp=self.get_clock().now().to_msg()),
            class_map=[VisionClass(class_id=index, class_name=label)
                       for index, label in enumerate(labels)], threshold=0.0))
        self._running = True
        self._worker = threading.Thread(target=self._work, name='ser_inference', daemon=True)
        self._worker.start()
        self._state = 'active'
        self.get_logger().info('active')
        return result

    def on_deactivate(self, state):
        """Stop listening and stop the worker; keep the model."""
        self._stop_listening()
        self._state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Drop the model and the publishers."""
        self._release()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        """Release everything."""
        self._stop_listening()
        self._release()
        self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def _stop_listening(self):
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _release(self):
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self.destroy_publisher(self._diagnostics_publisher)
            self._diagnostics_timer = self._diagnostics_publisher = None
        self.recognizer = self._decoder = None

    # ---------------------------------------------------------------------------------- input
    def _set_format(self, audio_format, source):
        """Start decoding a stream of this format; reset the recogniser's stream state."""
        try:
            decoder = StreamDecoder(audio_format, self.recognizer.config.sample_rate_hz)
        except AudioFormatError as error:
            self._decoder = None
            self._reject(f'unusable audio format from {source}: {error}', 'format')
            return
        changed = self._format is not None and audio_format != self._format
        # The sample clock of unstamped audio runs on (it only ever jumps forward), so that
        # the stamps of /emotion keep increasing across a format change.
        self._decoder, self._format = decoder, audio_format
        if changed:
            self._counts['format_changes'] += 1
            self.get_logger().info(f'audio format changed to {audio_format}: buffers reset')
            with self._lock:
                self._queue.clear()
                self._queued_samples = 0
                self._reset_requested = True

    def _on_audio_info(self, info):
        audio_format = AudioFormat(int(info.channels), int(info.sample_rate),
                                   info.sample_format, info.coding_format)
        if audio_format != self._format or self._decoder is None:
            self._set_format(audio_format, 'AudioInfo')

    def _on_audio(self, message):
        self._accept(message.data, None, '')

    def _on_audio_stamped(self, message):
        self._accept(message.audio.data, to_seconds(message.header.stamp),
                     message.header.frame_id)

    def _accept(self, payload, stamp_s, frame_id):
        """Decode one message and queue its samples; reject what cannot be used."""
        self._counts['messages'] += 1
        self._last_audio_monotonic = time.monotonic()
        if self._decoder is None:
            self._reject('audio arrived before a usable format', 'no_format')
            return
        if len(payload) == 0:
            self._reject('empty audio message', 'empty')
            return
        audio_format = self._format
        if audio_format.coding == 'pcm' and len(payload) > self._param('max_chunk_s') * \
                audio_format.sample_rate * audio_format.bytes_per_frame:
            self._reject(f'audio message of {len(payload)} bytes exceeds max_chunk_s', 'huge')
            return
        try:
            samples = self._decoder.decode(payload)
        except AudioFormatError as error:
            self._reject(str(error), 'malformed')
            return
        rate = self.recognizer.config.sample_rate_hz
        if len(samples) > self._param('max_chunk_s') * rate:
            self._reject('decoded audio message exceeds max_chunk_s', 'huge')
            return
        start_s = stamp_s if stamp_s is not None else self._unstamped_start(len(samples) / rate)
        with self._lock:
            self._queue.append((samples, start_s, frame_id))
            self._queued_samples += len(samples)
            dropped = 0
            while self._queued_samples > self._param('max_queue_s') * rate and \
                    len(self._queue) > 1:
                old = self._queue.popleft()[0]
                self._queued_samples -= len(old)
                dropped += len(old)
            self._lock.notify()
        if dropped:
            self._counts['dropped_samples'] += dropped
            self._warn('drop', f'inference cannot keep up: dropped {dropped / rate:.2f} s of '
                       'the oldest audio')

    def _unstamped_start(self, duration_s):
        """
        Return the stream time of a chunk without a stamp.

        Time follows the sample count from the first chunk's arrival, so that message jitter
        does not shake the stamps. After a gap in the stream (arrival later than the sample
        clock by more than RESYNC_S) it jumps forward to the arrival time; audio arriving
        faster than real time (a burst, a fast replay) keeps the sample clock, so stamps
        always increase.
        """
        arrival_start_s = self.get_clock().now().nanoseconds * 1e-9 - duration_s
        if self._stream_clock_s is None or arrival_start_s - self._stream_clock_s > RESYNC_S:
            self._stream_clock_s = arrival_start_s
        start_s = self._stream_clock_s
        self._stream_clock_s += duration_s
        return start_s

    def _reject(self, reason, kind):
        self._counts['rejected'] += 1
        self._counts[f'rejected_{kind}'] += 1
        self._warn(kind, f'rejected audio: {reason}')

    def _warn(self, kind, text):
        now = time.monotonic()
        if now - self._last_warning.get(kind, -WARN_PERIOD_S) >= WARN_PERIOD_S:
            self._last_warning[kind] = now
            self.get_logger().warning(text + f' ({self._counts["rejected"]} rejected, '
                                      f'{self._counts["dropped_samples"]} samples dropped so '
                                      'far)')

    # ------------------------------------------------------------------------------ inference
    def _work(self):
        """Run the recogniser on queued audio until deactivated."""
        while True:
            with self._lock:
                while self._running and not self._queue:
                    self._lock.wait(0.5)
                if not self._running:
                    return
                chunks = list(self._queue)
                self._queue.clear()
                self._queued_samples = 0
                if self._reset_requested:
                    self.recognizer.reset()
                    self._reset_requested = False
                if self._pending_dwell is not None:
                    self.recognizer.set_dwell(self._dwell(self._pending_dwell,
                                                          self.recognizer.bundle))
                    self._pending_dwell = None
            for samples, start_s, frame_id in chunks:
                started = time.perf_counter()
                estimates = self.recognizer.push(samples, start_s)
                for estimate in estimates:
                    self._publish(estimate, frame_id)
                with self._lock:
                    self._load['compute_s'] += time.perf_counter() - started
                    self._load['audio_s'] += len(samples) / self.recognizer.config.sample_rate_hz
                    self._load['windows'] += len(estimates)

    def _publish(self, estimate, frame_id):
        self._counts['windows'] += 1
        self._counts['speech_windows'] += int(estimate.is_speech)
        header = Header(stamp=to_time(estimate.end_time_s),
                        frame_id=self._param('frame_id') or frame_id)
        labels = self.recognizer.labels
        if estimate.is_speech or self._param('publish_non_speech'):
            self._outputs['emotion'].publish(
                classification(header, labels, estimate.probabilities))
            self._counts['published'] += 1
        if estimate.is_speech and self._param('publish_raw'):
            self._outputs['raw'].publish(
                classification(header, labels, estimate.raw_probabilities))

    # ---------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self):
        with self._lock:
            load, self._load = self._load, {'compute_s': 0.0, 'audio_s': 0.0, 'windows': 0}
            queued_s = self._queued_samples / self.recognizer.config.sample_rate_hz
        counts = self._counts
        rate = self.recognizer.config.sample_rate_hz
        rtf = load['compute_s'] / load['audio_s'] if load['audio_s'] else 0.0
        level, message = DiagnosticStatus.OK, self._state
        since_audio = (time.monotonic() - self._last_audio_monotonic
                       if self._last_audio_monotonic else None)
        if self._state == 'active' and self._decoder is None:
            level, message = DiagnosticStatus.ERROR, 'no usable audio format'
        elif rtf > 1.0:
            level, message = DiagnosticStatus.ERROR, f'slower than real time (RTF {rtf:.2f})'
        elif rtf > self._param('warn_rtf'):
            level, message = DiagnosticStatus.WARN, f'high load (RTF {rtf:.2f})'
        elif counts['rejected'] > self._reported.get('rejected', 0) or \
                counts['dropped_samples'] > self._reported.get('dropped_samples', 0):
            level, message = DiagnosticStatus.WARN, 'audio rejected or dropped recently'
        elif self._state == 'active' and (since_audio is None or since_audio > STALE_AUDIO_S):
            level, message = DiagnosticStatus.WARN, 'no audio received'
        self._reported = dict(counts)
        windows = load['windows']
        values = {
            'lifecycle_state': self._state, 'model': self.recognizer.bundle.name,
            'audio_format': str(self._format), 'real_time_factor': f'{rtf:.4f}',
            'processing_ms_per_window': f'{1000 * load["compute_s"] / windows:.2f}'
            if windows else '0', 'queue_s': f'{queued_s:.3f}',
            'dropped_s': f'{counts["dropped_samples"] / rate:.3f}',
            **{key: str(counts[key]) for key in (
                'messages', 'rejected', 'rejected_malformed', 'rejected_format',
                'rejected_no_format', 'rejected_empty', 'rejected_huge', 'format_changes',
                'windows', 'speech_windows', 'published')},
        }
        status = DiagnosticStatus(level=level, name=f'{self.get_name()}: emotion recognition',
                                  message=message, hardware_id=self.get_fully_qualified_name(),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diagnostics_publisher.publish(DiagnosticArray(
            header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


def _interrupt(signal_number, frame):
    raise KeyboardInterrupt


def main(args=None):
    """Run ``ser_node`` (``autostart:=true`` configures and activates it at once)."""
    # SIGINT and SIGTERM end the spin in this thread, so that the worker is stopped before the
    # context goes away (rclpy's own handler would invalidate it under the worker's feet).
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)
    node = EmotionRecognizerNode()
    if node.get_parameter('autostart').value:
        if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node._state in ('active', 'inactive'):
            node.on_shutdown(None)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
