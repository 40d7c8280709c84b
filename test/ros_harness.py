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
Utilities for tests that talk to other processes over real DDS.

Each test owns an rclpy context in the pytest process (created and shut down by ``RosPeer``),
and starts the other side as a separate Python process with ``start_process``.
"""

import os
import queue
import subprocess
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

TEST_DIR = os.path.dirname(os.path.abspath(__file__))


def start_process(*args, module=None, new_session=False):
    """
    Start ``python -m module args...`` (or a console command) with the test environment.

    ``new_session`` starts it in a process group of its own, as a terminal runs a command:
    ``os.killpg`` then signals it and everything it started, as Ctrl-C would.

    Returns
    -------
    subprocess.Popen
        Its stdout and stderr are merged and readable as text.

    """
    command = [sys.executable, '-m', module, *args] if module else list(args)
    env = dict(os.environ, PYTHONPATH=TEST_DIR + os.pathsep + os.environ.get('PYTHONPATH', ''))
    process = subprocess.Popen(command, cwd=TEST_DIR, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               start_new_session=new_session)
    # A reader thread keeps the pipe drained and lets waits time out.
    process.lines = queue.Queue()
    process.seen = []
    threading.Thread(target=_read_lines, args=(process,), daemon=True).start()
    return process


def _read_lines(process):
    for line in process.stdout:
        process.lines.put(line)
    process.lines.put(None)


def stop_process(process, timeout=10.0):
    """Interrupt a process (as Ctrl-C would), wait for it and return all its output."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    while True:
        try:
            line = process.lines.get(timeout=5.0)
        except queue.Empty:
            break
        if line is None:
            break
        process.seen.append(line)
    return ''.join(process.seen)


def wait_for_line(process, text, timeout=30.0):
    """Wait until a line of the process's output contains ``text``; return the lines so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = process.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        process.seen.append(line)
        if text in line:
            return list(process.seen)
    raise AssertionError(f'{text!r} not seen; output:\n' + ''.join(process.seen))


class RosPeer:
    """An rclpy context and node of the test's own, for ``with`` blocks."""

    def __init__(self, name='test_peer'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate, timeout=20.0):
        """Spin until ``predicate()`` is true; return whether it became true in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
