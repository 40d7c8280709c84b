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
The package driven the way its users drive it: ``ros2 launch``, ``ros2 run``, the ``ros2`` verbs.

Every command is a separate process on the test run's own ROS domain. The tools come from the
distro on a ROS machine, or from ../shared/ros-tools through scripts/setup_env.sh; where
neither is installed the tests skip, saying so.
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import time

import pytest
from ros_harness import start_process, stop_process, wait_for_line
from ser_ros.core.bundle import save_bundle
import soundfile
from synthetic import RATE_HZ, silence, speech_like, tiny_bundle

pytestmark = pytest.mark.skipif(
    shutil.which('ros2') is None or importlib.util.find_spec('launch_ros') is None,
    reason='the ros2 CLI and launch_ros are not installed (scripts/setup_env.sh installs them '
    'from ../shared/ros-tools; ROS machines have them)')


def ros2(*args, timeout=60.0):
    """Run one ``ros2`` verb to its end."""
    return subprocess.run(['ros2', *args], capture_output=True, text=True, timeout=timeout)


def ros2_verb(*args, discovery_s=30.0):
    """
    Run ``ros2 args...``, expect success, and return what it printed (out and err).

    A verb that does not find the node yet is retried for ``discovery_s``: the daemon may
    know the node's name before it knows its services.
    """
    deadline = time.monotonic() + discovery_s
    while True:
        done = ros2(*args)
        if done.returncode == 0 or 'Node not found' not in done.stderr or \
                time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope='module', autouse=True)
def ros2_daemon():
    """Let the verbs share one daemon (one discovery), and stop it after the module."""
    yield
    ros2('daemon', 'stop')


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_bundle(tiny_bundle(window_s=1.0, hop_s=0.25, dwell_s=2.0),
                       str(tmp_path_factory.mktemp('model') / 'tiny'))


@pytest.fixture(scope='module')
def speech_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('audio') / 'speech.wav'
    soundfile.write(path, speech_like(3.0).tolist() + silence(0.5).tolist(), RATE_HZ)
    return str(path)


def interrupt_group(process, timeout=20.0):
    """
    Send SIGINT to the process group, as Ctrl-C in a terminal does; return the output.

    A group still running ``timeout`` s later is killed (its return code is then not 0) and
    the output says so, so that the caller's assertion shows what the processes printed rather
    than a timeout raised from a ``finally`` block, which would hide the test's own failure.
    """
    os.killpg(os.getpgid(process.pid), signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        process.wait()
        return stop_process(process) + f'[test] still running {timeout:g} s after SIGINT: killed\n'
    return stop_process(process)


def test_ros2_launch_with_every_argument_then_lifecycle_params_topic_and_ctrl_c(
        model_path, speech_file, tmp_path):
    params_file = tmp_path / 'params.yaml'
    params_file.write_text('/**/ser_node:\n  ros__parameters:\n    publish_raw: true\n'
                           '    hop_s: 0.5\n')
    launch = start_process('ros2', 'launch', 'ser_ros', 'ser.launch.py', 'namespace:=head',
                           f'model_path:={model_path}', 'audio_topic:=/mic/audio',
                           f'params_file:={params_file}', 'autostart:=false', new_session=True)
    wait_for_line(launch, 'waiting for a lifecycle manager', 60.0)
    pid = int(next(line for line in launch.seen if 'process started with pid' in line)
              .split('[')[-1].split(']')[0])
    node = '/head/ser_node'
    assert 'unconfigured' in ros2_verb('lifecycle', 'get', node)
    assert 'Transitioning successful' in ros2_verb('lifecycle', 'set', node, 'configure')
    assert 'Transitioning successful' in ros2_verb('lifecycle', 'set', node, 'activate')
    assert 'active' in ros2_verb('lifecycle', 'get', node)

    # What the node does, read as a ROS user reads it: the values in use, not sentinels.
    assert 'Double value is: 2.0' in ros2_verb('param', 'get', node, 'dwell_s')
    assert 'Double value is: 1.0' in ros2_verb('param', 'get', node, 'window_s')
    assert 'Double value is: 0.5' in ros2_verb('param', 'get', node, 'hop_s')
    assert 'Boolean value is: True' in ros2_verb('param', 'get', node, 'publish_raw')
    assert 'Smoothing' in ros2_verb('param', 'describe', node, 'dwell_s')
    refused = ros2_verb('param', 'set', node, 'window_s', '2.0')
    assert 'Setting parameter failed' in refused and 'fixes the node' in refused
    assert 'Set parameter successful' in ros2_verb('param', 'set', node, 'dwell_s', '3.0')
    assert 'Double value is: 3.0' in ros2_verb('param', 'get', node, 'dwell_s')

    echo = start_process('ros2', 'topic', 'echo', '--once', '/head/emotion')
    player = start_process('ser-play', speech_file, '--topic-prefix', '/mic', '--loop')
    try:
        wait_for_line(echo, 'class_id', 60.0)
        echo.wait(timeout=20.0)
        assert echo.returncode == 0
    finally:
        stop_process(player)
        stop_process(echo)

    output = interrupt_group(launch)
    assert launch.returncode == 0, output
    assert 'process has finished cleanly' in output and 'process has died' not in output
    assert 'stopping (SIGINT) in state active' in output
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_ros2_launch_with_defaults_configures_activates_and_cleanup_restores(model_path):
    launch = start_process('ros2', 'launch', 'ser_ros', 'ser.launch.py',
                           f'model_path:={model_path}', new_session=True)
    wait_for_line(launch, 'active', 60.0)
    assert 'Double value is: 2.0' in ros2_verb('param', 'get', '/ser_node', 'dwell_s')
    ros2_verb('lifecycle', 'set', '/ser_node', 'deactivate')
    ros2_verb('lifecycle', 'set', '/ser_node', 'cleanup')
    assert 'Double value is: -1.0' in ros2_verb('param', 'get', '/ser_node', 'dwell_s')
    assert 'Set parameter successful' in ros2_verb('param', 'set', '/ser_node', 'window_s',
                                                   '2.0')
    output = interrupt_group(launch)
    assert launch.returncode == 0 and 'process has finished cleanly' in output, output


def test_ros2_run_starts_the_installed_node(model_path):
    node = start_process('ros2', 'run', 'ser_ros', 'ser_node', '--ros-args',
                         '-p', f'model_path:={model_path}', '-p', 'autostart:=true',
                         new_session=True)
    wait_for_line(node, 'active', 60.0)
    assert 'active [3]' in ros2_verb('lifecycle', 'get', '/ser_node')
    output = interrupt_group(node)
    assert node.returncode == 0, output


def test_ros2_interface_show_knows_the_output_types():
    shown = ros2('interface', 'show', 'vision_msgs/msg/Classification')
    assert shown.returncode == 0 and 'ObjectHypothesis[] results' in shown.stdout
    shown = ros2('interface', 'show', 'audio_common_msgs/msg/AudioData')
    assert shown.returncode == 0 and 'uint8[] data' in shown.stdout


@pytest.mark.skipif(shutil.which('colcon') is None, reason='colcon is not installed')
def test_the_readme_ros_machine_path_colcon_build_source_and_launch(
        model_path, tmp_path, repo_root):
    workspace = tmp_path / 'ws'
    (workspace / 'src').mkdir(parents=True)
    (workspace / 'src' / 'ser_ros').symlink_to(repo_root)
    built = subprocess.run(['colcon', 'build', '--packages-select', 'ser_ros'], cwd=workspace,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (workspace / 'install' / 'ser_ros' / 'lib' / 'ser_ros' / 'ser_node').exists()
    launch = start_process('bash', '-c', f'source {workspace}/install/setup.bash && '
                           'ros2 pkg prefix ser_ros && exec ros2 launch ser_ros ser.launch.py '
                           f'model_path:={model_path}', new_session=True)
    try:
        lines = wait_for_line(launch, 'active', 60.0)
    finally:
        output = interrupt_group(launch)
    assert str(workspace / 'install' / 'ser_ros') in lines[0]
    assert launch.returncode == 0 and 'process has finished cleanly' in output, output
