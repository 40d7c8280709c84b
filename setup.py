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

"""Install ser_ros as an ament_python package (colcon) or into a venv (pip)."""
from glob import glob
import re

from setuptools import find_packages, setup

package_name = 'ser_ros'
with open('package.xml') as package_xml:
    # One source for the version and the maintainer: package.xml (ser_ros.__version__ reads
    # the installed metadata).
    manifest = package_xml.read()
version = re.search(r'<version>([^<]+)</version>', manifest).group(1)
maintainer_email, maintainer = re.search(r'<maintainer email="([^"]+)">([^<]+)</maintainer>',
                                         manifest).groups()


def share(folder, pattern='*'):
    """Return a data_files entry installing ``folder/pattern`` into the share folder."""
    return (f'share/{package_name}/{folder}', glob(f'{folder}/{pattern}'))


def model_entries():
    """Return one data_files entry per model bundle folder under models/."""
    return [(f'share/{package_name}/{folder}', glob(f'{folder}/*.*'))
            for folder in sorted(glob('models/*/'))]


setup(
    name=package_name,
    version=version,
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{package_name}']),
        (f'share/{package_name}', ['package.xml']),
        share('launch', '*.launch.py'),
        share('config', '*.yaml'),
        *model_entries(),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer=maintainer,
    maintainer_email=maintainer_email,
    description='Speech emotion recognition for robots (ROS 2).',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'ser_node = ser_ros.ros.node:main',
            'ser-train = ser_ros.training.train:main',
            'ser-predict = ser_ros.tools.predict:main',
            'ser-evaluate = ser_ros.training.evaluate:main',
            'ser-play = ser_ros.ros.player:main',
            'ser-demo = ser_ros.ros.demo:main',
            'ser-bag = ser_ros.tools.bag_cli:main',
        ],
    },
)
