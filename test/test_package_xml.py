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


def test_package_version_matches_setup_py(repo_root):
    import re
    package = parse_package(os.path.join(repo_root, 'package.xml'))
    with open(os.path.join(repo_root, 'setup.py')) as setup_py:
        match = re.search(r"version='([^']+)'", setup_py.read())
    assert match and match.group(1) == package.version


def test_share_folder_is_installed():
    from ament_index_python.packages import get_package_share_directory
    share = get_package_share_directory('ser_ros')
    assert os.path.isfile(os.path.join(share, 'package.xml'))
