"""
Utilities for tests that talk to other processes over real DDS.

Each test owns an rclpy context in the pytest process (created and shut down by ``RosPeer``),
and starts the other side as a separate Python process with ``start_process``.
"""

import os
import subprocess
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

TEST_DIR = os.path.dirname(os.path.abspath(__file__))


def start_process(*args, module=None):
    """
    Start ``python -m module args...`` (or a console command) with the test environment.

    Returns
    -------
    subprocess.Popen
        Its stdout and stderr are merged and readable as text.

    """
    command = [sys.executable, '-m', module, *args] if module else list(args)
    env = dict(os.environ, PYTHONPATH=TEST_DIR + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.Popen(command, cwd=TEST_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop_process(process, timeout=10.0):
    """Interrupt a process (as Ctrl-C would), wait for it and return its output."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.stdout.read()


def wait_for_line(process, text, timeout=30.0):
    """Read a process's output until a line contains ``text``; return the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f'{text!r} not seen; output:\n' + ''.join(lines))


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
