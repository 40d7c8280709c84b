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
Shared test set-up: isolate DDS traffic and give ROS somewhere to write its logs.

Every test process (and the subprocesses it starts, which inherit the environment) uses one
ROS domain picked for this pytest run and discovers peers on localhost only, so that parallel
runs on one machine and other robots on the network never see each other.
"""

import os
import random
import sys
import tempfile

import pytest

_LOG_DIR = tempfile.mkdtemp(prefix='ser_ros_test_log_')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random(os.getpid()).randint(1, 101)))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_LOG_DIR', _LOG_DIR)
os.environ.setdefault('MPLCONFIGDIR', _LOG_DIR)
os.environ['PYTHONUNBUFFERED'] = '1'

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, 'test'))


@pytest.fixture(scope='session')
def repo_root():
    """Return the repository root folder."""
    return REPO_ROOT
