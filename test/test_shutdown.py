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
ser_node stops cleanly however it is told to: Ctrl-C in a terminal, repeated signals, SIGTERM.

A terminal's Ctrl-C signals the whole foreground process group, and ``ros2 launch`` forwards
the signal again: the node must exit 0, within a second, having logged that it stops, however
many SIGINT/SIGTERM arrive and in whatever lifecycle state.
"""

import os
import signal
import time

import pytest
from ros_harness import start_process, stop_process, wait_for_line
from ser_ros.core.bundle import save_bundle
from synthetic import tiny_bundle

#: A stop request must end the process within this time [s] (1 s, plus slack for a busy CI).
STOP_WITHIN_S = 1.5


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_bundle(tiny_bundle(), str(tmp_path_factory.mktemp('model') / 'tiny'))


def start_node(model_path, autostart=True):
    node = start_process('--ros-args', '-p', f'model_path:={model_path}',
                         '-p', f'autostart:={str(autostart).lower()}',
                         module='ser_ros.ros.node', new_session=True)
    wait_for_line(node, 'active' if autostart else 'waiting for a lifecycle manager', 60.0)
    return node


def wait_for_exit(node):
    started = time.monotonic()
    node.wait(timeout=20.0)
    return time.monotonic() - started


@pytest.mark.parametrize('repetition', range(3))
def test_ctrl_c_to_the_process_group_exits_zero_while_active(model_path, repetition):
    node = start_node(model_path)
    os.killpg(os.getpgid(node.pid), signal.SIGINT)
    took_s = wait_for_exit(node)
    output = stop_process(node)
    assert node.returncode == 0, output
    assert took_s < STOP_WITHIN_S, f'took {took_s:.2f} s'
    assert output.count('stopping (SIGINT) in state active') == 1, output
    assert 'Traceback' not in output


def test_two_quick_sigints_while_active_still_exit_zero(model_path):
    node = start_node(model_path)
    node.send_signal(signal.SIGINT)
    time.sleep(0.02)
    node.send_signal(signal.SIGINT)
    took_s = wait_for_exit(node)
    output = stop_process(node)
    assert node.returncode == 0 and took_s < STOP_WITHIN_S, output
    assert 'KeyboardInterrupt' not in output and 'Traceback' not in output


@pytest.mark.parametrize('signal_number', [signal.SIGTERM, signal.SIGINT])
def test_an_unconfigured_node_stops_on_a_signal(model_path, signal_number):
    node = start_node(model_path, autostart=False)
    os.killpg(os.getpgid(node.pid), signal_number)
    took_s = wait_for_exit(node)
    output = stop_process(node)
    assert node.returncode == 0 and took_s < STOP_WITHIN_S, output
    assert f'stopping ({signal.Signals(signal_number).name}) in state unconfigured' in output
