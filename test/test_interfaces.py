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
The interface definitions are wire-compatible with the upstream packages.

A message type's RIHS01 hash covers its field names and types (not comments). Bags and other
robots' nodes interoperate with ours only if our stand-in definitions hash exactly like the
upstream ones (audio_common_msgs 0.3.12, vision_msgs 4.x), listed in ../shared/ROS_ENV.md.
"""

import json
import os

from ament_index_python.packages import get_package_share_directory
import pytest
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

UPSTREAM_HASHES = {
    'audio_common_msgs/msg/AudioData':
        'RIHS01_a9742fba1567e649bbdba6ae034a72c7ef129b97c7a4da50fd2f3e1bfd8ffa86',
    'audio_common_msgs/msg/AudioDataStamped':
        'RIHS01_6fc679d5a868ed68e4d301f1ef42abecc86140afb57d255656ff2d9e476ea9e3',
    'audio_common_msgs/msg/AudioInfo':
        'RIHS01_b3494d204e513d2cceefae1888e5be3da7c8c8ca31eb277f7b5b62f364bcb1fb',
    'vision_msgs/msg/Classification':
        'RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143',
    'vision_msgs/msg/ObjectHypothesis':
        'RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90',
    'vision_msgs/msg/LabelInfo':
        'RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783',
    'vision_msgs/msg/VisionClass':
        'RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a',
}


def test_repo_definitions_hash_like_upstream(repo_root):
    typestore = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for type_name in UPSTREAM_HASHES:
        package, _, name = type_name.split('/')
        path = os.path.join(repo_root, 'interfaces', package, 'msg', f'{name}.msg')
        with open(path) as definition:
            types.update(get_types_from_msg(definition.read(), type_name))
    typestore.register(types)
    for type_name, expected in UPSTREAM_HASHES.items():
        assert typestore.hash_rihs01(type_name) == expected, type_name


@pytest.mark.parametrize('type_name', sorted(UPSTREAM_HASHES))
def test_installed_package_hashes_like_upstream(type_name):
    """The package in use (built by the setup script or the distro's) carries upstream hashes."""
    package, _, name = type_name.split('/')
    path = os.path.join(get_package_share_directory(package), 'msg', f'{name}.json')
    with open(path) as description:
        hashes = json.load(description)['type_hashes']
    assert {entry['type_name']: entry['hash_string'] for entry in hashes}[type_name] == \
        UPSTREAM_HASHES[type_name]
