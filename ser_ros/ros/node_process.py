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

"""Start ``ser_node`` in a process of its own (the demo and the live bag run do)."""

from collections.abc import Mapping
import importlib.util
import os
import shutil
import signal
import subprocess
import sys


def ser_node_command(parameters: Mapping[str, object],
                     params_file: str | None = None) -> list[str]:
    """
    Return the command line that runs ``ser_node`` with these parameters.

    Parameters
    ----------
    parameters : mapping of str to value
        ``-p name:=value`` each (booleans in ROS spelling); empty values are left out.
    params_file : str, optional
        A parameters YAML loaded before them.

    """
    command = [sys.executable, '-m', 'ser_ros.ros.node', '--ros-args']
    if params_file:
        command += ['--params-file', params_file]
    for name, value in parameters.items():
        if value == '' or value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        command += ['-p', f'{name}:={text}']
    return command


def launch_available() -> bool:
    """Return whether ``ros2 launch`` can start ser_node here (the CLI and launch_ros)."""
    return shutil.which('ros2') is not None and \
        importlib.util.find_spec('launch_ros') is not None


def start_ser_node(parameters: Mapping[str, object], params_file: str | None = None,
                   quiet: bool = False) -> subprocess.Popen:
    """
    Start ``ser_node`` (see :func:`ser_node_command`) in a process group of its own.

    ``quiet`` discards its output; :func:`stop` ends it as Ctrl-C would.
    """
    output = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(ser_node_command(parameters, params_file), stdout=output,
                            stderr=output, start_new_session=True)


def launch_ser_node(arguments: Mapping[str, str]) -> subprocess.Popen:
    """
    Run ``ros2 launch ser_ros ser.launch.py`` with launch arguments, in a group of its own.

    Parameters
    ----------
    arguments : mapping of str to str
        ``name:=value`` each (empty values are left out: the launch file's defaults).

    """
    command = ['ros2', 'launch', 'ser_ros', 'ser.launch.py',
               *(f'{name}:={value}' for name, value in arguments.items() if value)]
    return subprocess.Popen(command, start_new_session=True)


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> int:
    """Send SIGINT to the process's group, as Ctrl-C does; wait; return the exit code."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode
