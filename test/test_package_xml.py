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

"""package.xml is valid format 3 and declares what the code really uses."""

import os

from catkin_pkg.package import parse_package


def test_package_xml_is_valid_format_3(repo_root):
    package = parse_package(os.path.join(repo_root, 'package.xml'))
    package.validate()
    assert package.package_format == 3
    assert package.name == 'ser_ros'
    assert package.get_build_type() == 'ament_python'


def test_package_xml_declares_the_ros_dependencies(repo_root):
    package = parse_package(os.path.join(repo_root, 'package.xml'))
    exec_depends = {dep.name for dep in package.exec_depends}
    for name in ('rclpy', 'std_msgs', 'audio_common_msgs', 'vision_msgs', 'diagnostic_msgs',
                 'lifecycle_msgs'):
        assert name in exec_depends, name


def test_the_robot_install_does_not_depend_on_training_libraries(repo_root):
    package = parse_package(os.path.join(repo_root, 'package.xml'))
    exec_depends = {dep.name for dep in package.exec_depends}
    for name in ('python3-librosa', 'python3-hmmlearn-pip', 'python3-sklearn', 'python3-tqdm',
                 'python3-matplotlib', 'python3-rosbags-pip'):
        assert name not in exec_depends, name
        assert name in {dep.name for dep in package.test_depends}, name


def test_package_xml_is_the_one_version_and_maintainer_source(repo_root):
    from importlib import metadata

    import ser_ros
    package = parse_package(os.path.join(repo_root, 'package.xml'))
    assert ser_ros.__version__ == package.version == metadata.version('ser_ros')
    assert metadata.metadata('ser_ros')['Maintainer'] == package.maintainers[0].name
    assert 'example.org' not in package.maintainers[0].email


def test_share_folder_is_installed():
    from ament_index_python.packages import get_package_share_directory
    share = get_package_share_directory('ser_ros')
    assert os.path.isfile(os.path.join(share, 'package.xml'))
