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

"""Launch ser_node, the speech emotion recogniser, as a lifecycle node."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Return the launch description (arguments: see ``ros2 launch ser_ros ser.launch.py -s``)."""
    arguments = [
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('ser_ros'), 'config',
                                                'ser.yaml']),
            description='Parameters of ser_node (every parameter, commented).'),
        DeclareLaunchArgument(
            'model_path', default_value='',
            description='Model bundle folder; empty uses the shipped default model.'),
        DeclareLaunchArgument(
            'audio_topic', default_value='/audio/audio',
            description='audio_common_msgs/AudioData input topic.'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the node and of its emotion topics.'),
        DeclareLaunchArgument(
            'autostart', default_value='true',
            description='Configure and activate at start-up; false leaves the transitions '
                        'to a lifecycle manager.'),
    ]
    node = LifecycleNode(
        package='ser_ros', executable='ser_node', name='ser_node',
        namespace=LaunchConfiguration('namespace'), output='screen',
        parameters=[
            LaunchConfiguration('params_file'),
            {'model_path': ParameterValue(LaunchConfiguration('model_path'), value_type=str),
             'audio_topic': LaunchConfiguration('audio_topic'),
             'autostart': ParameterValue(LaunchConfiguration('autostart'), value_type=bool)},
        ])
    return LaunchDescription([*arguments, node])
