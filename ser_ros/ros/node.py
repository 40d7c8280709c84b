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

This module only adapts the ROS-free core to ROS: the audio callback hands each message to an
:class:`~ser_ros.core.intake.AudioIntake` (decoding, admission, timing, bounded queue); a worker
thread takes the queued audio and runs the :class:`~ser_ros.core.recognizer.StreamingRecognizer`;
a :class:`~ser_ros.core.health.StreamHealth` counts what happens and sums it up for
``/diagnostics``.
"""

from dataclasses import replace
import logging
import os
import signal
import sys
import threading
import time
import traceback

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from ser_ros.core.audio import AudioFormat
from ser_ros.core.audio_common import stamp_seconds
from ser_ros.core.bundle import BundleError, calibration_text, encoder_text, load_bundle, \
    ModelBundle, UNCALIBRATED_WARNING
from ser_ros.core.health import StreamHealth
from ser_ros.core.intake import AudioChunk, AudioIntake
from ser_ros.core.recognizer import Estimate, limit_threads, StreamingRecognizer
from ser_ros.core.vad import VadError
from ser_ros.resources import default_model_path
from ser_ros.ros.messages import classification, DIAGNOSTICS_TOPIC, EMOTION_TOPIC, label_info, \
    LABEL_INFO_TOPIC, RAW_TOPIC, to_time
from ser_ros.ros.parameters import check_parameter, MODEL_DEFAULTED, PARAMETERS
from ser_ros.ros.qos import audio_input, LATCHED, OUTPUT
from std_msgs.msg import Header, String
from vision_msgs.msg import Classification, LabelInfo

RCLError = rclpy_implementation.RCLError
#: How often the spinning main thread looks for a stop request [s].
STOP_POLL_S = 0.1
#: Speaker identifiers are cut to this length (they name the per-speaker statistics).
MAX_SPEAKER_ID_CHARS = 64
#: Queue depth of the speaker-id subscription (reliable, volatile: what ``ros2 topic pub`` offers).
SPEAKER_QOS_DEPTH = 10


class EmotionRecognizerNode(LifecycleNode):
    """Speech emotion recognition as a managed node (see the module docstring)."""

    def __init__(self, node_name: str = 'ser_node', **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description + (' (fixed while configured)' if spec.fixed
                                                else '')))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._answer_change_state = self._service_change_state.callback
        self._service_change_state.callback = self._on_change_state
        self.lifecycle_state = 'unconfigured'
        self.recognizer: StreamingRecognizer | None = None
        self.health = StreamHealth()
        self._intake: AudioIntake | None = None
        self._worker: threading.Thread | None = None
        self._pending_lock = threading.Lock()
        self._pending_dwell: float | None = None
        self._pending_speaker: str | None = None
        self._requested: dict[str, float] = {}
        self._inputs: list = []
        self._outputs: dict = {}
        self._diagnostics_publisher = None
        self._diagnostics_timer = None

    # ----------------------------------------------------------------------------- parameters
    def _param(self, name: str):
        return self.get_parameter(name).value

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        configured = self.lifecycle_state in ('inactive', 'active')
        for parameter in parameters:
            problem = check_parameter(parameter.name, parameter.value, configured)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for parameter in parameters:
            if parameter.name == 'dwell_s' and self.recognizer is not None:
                with self._pending_lock:
                    self._pending_dwell = self._dwell(parameter.value)
            if parameter.name in ('max_queue_s', 'max_chunk_s') and self._intake is not None:
                setattr(self._intake, parameter.name, parameter.value)
        return SetParametersResult(successful=True)

    def _dwell(self, value: float) -> float:
        """Return the dwell time a ``dwell_s`` value means (negative: the model's) [s]."""
        return self.recognizer.bundle.streaming.dwell_s if value < 0 else value

    # ------------------------------------------------------------------------------ lifecycle
    def _on_change_state(self, request: ChangeState.Request,
                         response: ChangeState.Response) -> ChangeState.Response:
        """
        Answer a ChangeState request; refuse a transition the current state does not have.

        rclpy's own handler raises RCLError for such a request (ros2/rclpy#1209, fixed
        upstream after the Jazzy wheels), which would end the process. The state machine
        raises before it runs any callback, so the state is unchanged when we refuse.
        """
        try:
            return self._answer_change_state(request, response)
        except RCLError as error:
            self.get_logger().warning(
                f'refused lifecycle transition {request.transition.id} '
                f'{request.transition.label!r} in state {self.lifecycle_state}: {error}')
            response.success = False
            return response

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
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
            if self._param('vad'):
                bundle = replace(bundle, vad=replace(bundle.vad, kind=self._param('vad')))
            limit_threads(self._param('torch_threads'))
            dwell_s = self._param('dwell_s')
            self.recognizer = StreamingRecognizer(
                bundle, window_s=self._param('window_s') or None,
                hop_s=self._param('hop_s') or None,
                dwell_s=None if dwell_s < 0 else dwell_s,
                adapt_normalisation=self._param('adapt_normalisation'),
                norm_horizon_s=self._param('norm_horizon_s') or None)
            self.recognizer.warm_up()
        except Exception as error:
            # Any failure (a bad bundle, a window too large for memory) fails the transition,
            # and says why.
            reason = error if isinstance(error, (BundleError, ValueError, VadError)) else \
                f'{type(error).__name__}: {error}'
            self.get_logger().error(f'cannot configure with model {model_path}: {reason}')
            self.recognizer = None
            return TransitionCallbackReturn.FAILURE
        self._show_values_in_use(bundle)
        self._intake = AudioIntake(self.recognizer.config.sample_rate_hz, self.health,
                                   self.get_logger(), self._param('max_queue_s'),
                                   self._param('max_chunk_s'))
        self._outputs = {
            'emotion': self.create_lifecycle_publisher(Classification, EMOTION_TOPIC, OUTPUT),
            'raw': self.create_lifecycle_publisher(Classification, RAW_TOPIC, OUTPUT),
            'label_info': self.create_lifecycle_publisher(LabelInfo, LABEL_INFO_TOPIC, LATCHED),
        }
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC,
                                                            OUTPUT)
        self._diagnostics_timer = self.create_timer(self._param('diagnostics_period_s'),
                                                    self._publish_diagnostics)
        self._intake.set_format(AudioFormat(self._param('channels'), self._param('sample_rate'),
                                            self._param('sample_format'),
                                            self._param('coding_format')), 'parameters')
        self.lifecycle_state = 'inactive'
        self.get_logger().info(
            f'configured: model {bundle.name} ({model_path}), labels {bundle.labels}, window '
            f'{self.recognizer.window_s} s, hop {self.recognizer.hop_s} s, dwell '
            f'{self.recognizer.dwell_s} s, {bundle.vad.kind} voice-activity gate, '
            f'{encoder_text(bundle.feature_config)}, {calibration_text(bundle)}')
        if not bundle.calibrated:
            self.get_logger().warning(
                f'model {bundle.name} carries no calibration (trained before ser_ros fitted '
                f'one): {UNCALIBRATED_WARNING}')
        return TransitionCallbackReturn.SUCCESS

    def _show_values_in_use(self, bundle: ModelBundle) -> None:
        """Make the model-defaulted parameters read back what the recogniser uses."""
        self._requested = {name: self._param(name) for name in MODEL_DEFAULTED}
        recognizer = self.recognizer
        in_use = {'window_s': recognizer.window_s, 'hop_s': recognizer.hop_s,
                  'dwell_s': recognizer.dwell_s,
                  'norm_horizon_s': self._param('norm_horizon_s') or
                  bundle.streaming.norm_horizon_s}
        self.set_parameters([Parameter(name, value=float(value))
                             for name, value in in_use.items()])
        with self._pending_lock:
            self._pending_dwell = self._pending_speaker = None

    def _restore_requested_values(self) -> None:
        """Give the model-defaulted parameters back the values set before configure."""
        if self._requested:
            self.set_parameters([Parameter(name, value=value)
                                 for name, value in self._requested.items()])
            self._requested = {}

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the audio, start the worker and latch the label map."""
        result = super().on_activate(state)
        audio_qos = audio_input(self._param('audio_qos_reliability'),
                                self._param('audio_qos_depth'))
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
        if self._param('speaker_topic'):
            self._inputs.append(self.create_subscription(
                String, self._param('speaker_topic'), self._on_speaker, SPEAKER_QOS_DEPTH))
        self._outputs['label_info'].publish(label_info(
            Header(stamp=self.get_clock().now().to_msg()), self.recognizer.labels))
        self._intake.reopen()
        self._worker = threading.Thread(target=self._work, name='ser_inference', daemon=True)
        self._worker.start()
        self.lifecycle_state = 'active'
        self.get_logger().info('active')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop listening and stop the worker; keep the model."""
        self._stop_listening()
        self.lifecycle_state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop the model and the publishers."""
        self._release()
        self.lifecycle_state = 'unconfigured'
        self._restore_requested_values()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self._stop_listening()
        self._release()
        self.lifecycle_state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def _stop_listening(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._intake is not None:
            self._intake.close()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _release(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self.destroy_publisher(self._diagnostics_publisher)
            self._diagnostics_timer = self._diagnostics_publisher = None
        self.recognizer = self._intake = None

    # ---------------------------------------------------------------------------------- input
    def _arrival_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_audio_info(self, info: AudioInfo) -> None:
        self._intake.set_format(AudioFormat.from_info(info), 'AudioInfo')

    def _on_audio(self, message: AudioData) -> None:
        self._intake.accept(message.data, None, self._arrival_s())

    def _on_audio_stamped(self, message: AudioDataStamped) -> None:
        self._intake.accept(message.audio.data, stamp_seconds(message.header.stamp),
                            self._arrival_s(), message.header.frame_id)

    def _on_speaker(self, message: String) -> None:
        """Note who speaks now; the worker switches before the next audio it takes."""
        with self._pending_lock:
            self._pending_speaker = message.data[:MAX_SPEAKER_ID_CHARS]

    # ------------------------------------------------------------------------------ inference
    def _work(self) -> None:
        """Run the recogniser on queued audio until the intake is closed."""
        recognizer, intake = self.recognizer, self._intake
        rate_hz = recognizer.config.sample_rate_hz
        while (taken := intake.take()) is not None:
            chunks, reset = taken
            if reset:
                recognizer.reset()
            with self._pending_lock:
                dwell_s, self._pending_dwell = self._pending_dwell, None
                speaker, self._pending_speaker = self._pending_speaker, None
            if dwell_s is not None:
                recognizer.set_dwell(dwell_s)
            if speaker is not None and recognizer.set_speaker(speaker):
                self.health.count('speaker_changes')
            for chunk in chunks:
                started = time.perf_counter()
                estimates = recognizer.push(chunk.samples, chunk.start_s)
                published = sum(self._publish(estimate, chunk) for estimate in estimates)
                self.health.record_work(time.perf_counter() - started,
                                        len(chunk.samples) / rate_hz, len(estimates),
                                        sum(estimate.is_speech for estimate in estimates),
                                        published)
                intake.done(chunk)

    def _publish(self, estimate: Estimate, chunk: AudioChunk) -> bool:
        """Publish one window's estimate (and its raw output); return whether /emotion got it."""
        header = Header(stamp=to_time(estimate.end_time_s),
                        frame_id=self._param('frame_id') or chunk.frame_id)
        labels = self.recognizer.labels
        published = estimate.is_speech or self._param('publish_non_speech')
        if published:
            self._outputs['emotion'].publish(
                classification(header, labels, estimate.probabilities))
        if estimate.is_speech and self._param('publish_raw'):
            self._outputs['raw'].publish(
                classification(header, labels, estimate.raw_probabilities))
        return published

    # ---------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        intake, recognizer = self._intake, self.recognizer
        report = self.health.report(self.lifecycle_state, intake.decoder is not None,
                                    intake.queued_s, self._param('warn_rtf'),
                                    recognizer.config.sample_rate_hz, intake.backlog_s)
        values = {'lifecycle_state': self.lifecycle_state, 'model': recognizer.bundle.name,
                  'audio_format': str(intake.audio_format), **report.values}
        status = DiagnosticStatus(level=bytes([report.level]),
                                  name=f'{self.get_name()}: emotion recognition',
                                  message=report.message,
                                  hardware_id=self.get_fully_qualified_name(),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diagnostics_publisher.publish(DiagnosticArray(
            header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


class StopRequest:
    """
    SIGINT and SIGTERM as a request to stop, however many arrive and whenever.

    The handlers never raise: a second Ctrl-C (a terminal signals the whole process group, and
    ``ros2 launch`` forwards it again) while the node is shutting down changes nothing, so the
    shutdown always completes and the process exits 0.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on."""
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, self._handle)

    def _handle(self, signal_number: int, frame: object) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signal_number).name
        self.event.set()


def main(args: list[str] | None = None) -> None:
    """
    Run ``ser_node`` (``autostart:=true`` configures and activates it at once); end the process.

    The process ends through :func:`os._exit` once the node is shut down and its output
    flushed: the interpreter's own teardown of torch takes 0.8-0.9 s on its own (C++ static
    destructors), which would push a stop request past its 1 s budget, and there is nothing
    of ours left for it to release.
    """
    # Our own handlers, not rclpy's: rclpy's would shut the context down under the worker.
    stop = StopRequest()
    stop.install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = EmotionRecognizerNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    status = 0
    try:
        if not node.get_parameter('autostart').value:
            node.get_logger().info('unconfigured: waiting for a lifecycle manager (or '
                                   'autostart:=true)')
        elif not stop.event.is_set():
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
        # A short wait per spin: without timers (unconfigured) the executor would never wake.
        while not stop.event.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:
        pass
    except Exception:
        # A bug: say what it was and exit non-zero, after the same clean shutdown.
        node.get_logger().fatal(traceback.format_exc())
        status = 1
    finally:
        node.get_logger().info(f'stopping ({stop.signal_name or "shutdown"}) in state '
                               f'{node.lifecycle_state}')
        if node.lifecycle_state in ('unconfigured', 'inactive', 'active'):
            node.trigger_shutdown()
        executor.remove_node(node)
        node.destroy_node()
        rclpy.try_shutdown()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


if __name__ == '__main__':
    main()
