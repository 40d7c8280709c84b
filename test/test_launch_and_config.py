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

"""The launch file and the parameters file agree with the node's parameter table."""

import ast
import importlib.util
import os

import pytest
from ser_ros.ros.parameters import PARAMETERS
import yaml


def test_params_file_sets_every_parameter_with_its_type(repo_root):
    with open(os.path.join(repo_root, 'config', 'ser.yaml')) as stream:
        document = yaml.safe_load(stream)
    values = document['/**/ser_node']['ros__parameters']
    assert set(values) == {spec.name for spec in PARAMETERS}
    for spec in PARAMETERS:
        assert type(values[spec.name]) is type(spec.default), spec.name
        assert spec.check is None or spec.check(values[spec.name]) is None, spec.name


def test_params_file_comments_every_parameter(repo_root):
    with open(os.path.join(repo_root, 'config', 'ser.yaml')) as stream:
        lines = [line for line in stream if line.startswith('    ') and ':' in line]
    assert len(lines) == len(PARAMETERS)
    assert all('#' in line for line in lines)


def launch_arguments(repo_root):
    with open(os.path.join(repo_root, 'launch', 'ser.launch.py')) as stream:
        tree = ast.parse(stream.read())
    arguments = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'DeclareLaunchArgument':
            keywords = {keyword.arg: keyword.value for keyword in call.keywords}
            arguments[call.args[0].value] = keywords
    return tree, arguments


def test_launch_file_declares_described_arguments_and_runs_the_installed_node(repo_root):
    tree, arguments = launch_arguments(repo_root)
    assert set(arguments) == {'params_file', 'model_path', 'audio_topic', 'namespace',
                              'autostart'}
    assert all('description' in keywords for keywords in arguments.values())
    source = ast.unparse(tree)
    assert "executable='ser_node'" in source and "package='ser_ros'" in source
    with open(os.path.join(repo_root, 'setup.py')) as stream:
        assert "'ser_node = ser_ros.ros.node:main'" in stream.read()


@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None,
                    reason='launch_ros is not installed (scripts/setup_env.sh installs it from '
                    '../shared/ros-tools; ROS machines have it)')
def test_launch_description_loads(repo_root):
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    source = PythonLaunchDescriptionSource(os.path.join(repo_root, 'launch', 'ser.launch.py'))
    description = source.get_launch_description(LaunchContext())
    names = {argument.name for argument in description.get_launch_arguments()}
    assert {'params_file', 'model_path', 'audio_topic', 'namespace', 'autostart'} <= names
