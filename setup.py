"""Install ser_ros as an ament_python package (colcon) or into a venv (pip)."""
from glob import glob

from setuptools import find_packages, setup

package_name = 'ser_ros'


def share(folder, pattern='*'):
    """Return a data_files entry installing ``folder/pattern`` into the share folder."""
    return (f'share/{package_name}/{folder}', glob(f'{folder}/{pattern}'))


def model_entries():
    """Return one data_files entry per model bundle folder under models/."""
    return [(f'share/{package_name}/{folder}', glob(f'{folder}/*.*'))
            for folder in sorted(glob('models/*/'))]


setup(
    name=package_name,
    version='0.1.0',
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
    maintainer='ser_ros developers',
    maintainer_email='ser_ros@example.org',
    description='Speech emotion recognition for robots (ROS 2).',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'ser_node = ser_ros.node:main',
            'ser-train = ser_ros.train:main',
            'ser-predict = ser_ros.predict:main',
            'ser-evaluate = ser_ros.evaluate:main',
            'ser-play = ser_ros.player:main',
            'ser-demo = ser_ros.demo:main',
            'ser-bag = ser_ros.bag_cli:main',
        ],
    },
)
