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
ser_ros: speech emotion recognition for robots.

Subpackages by role; ``core`` is imported by the others and imports none of them:

- :mod:`ser_ros.core`: the data path from audio to emotion estimates (decoding, features,
  speech gate, normalisation, BiLSTM, online HMM filter, model bundle, audio intake, health).
  No rclpy, no training-only libraries.
- :mod:`ser_ros.ros`: the ROS 2 adapter: the lifecycle node, its parameters, QoS profiles,
  message conversions, the audio player, the demo and the live bag run.
- :mod:`ser_ros.training`: corpora, datasets, the trainer, evaluation, the HMM fit.
- :mod:`ser_ros.tools`: prediction, bags, stream scoring and the ``ser-bag`` command.
"""

from importlib import metadata
import os
import re


def _version() -> str:
    """Return the installed version, or package.xml's in a checkout that is not installed."""
    try:
        return metadata.version('ser_ros')
    except metadata.PackageNotFoundError:
        package_xml = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'package.xml')
        with open(package_xml) as stream:
            found = re.search(r'<version>([^<]+)</version>', stream.read())
        if found is None:
            raise RuntimeError(f'{package_xml} has no <version>')
        return found.group(1)


__version__ = _version()
