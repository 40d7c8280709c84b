"""The recognition core never imports rclpy: the trainer and CLI run without ROS."""

import subprocess
import sys

CORE_MODULES = ['audio', 'features', 'normalization', 'vad', 'model', 'hmm', 'bundle',
                'recognizer']


def test_core_modules_do_not_import_rclpy():
    imports = '; '.join(f'import ser_ros.{name}' for name in CORE_MODULES)
    check = f"{imports}; import sys; assert 'rclpy' not in sys.modules, 'rclpy imported'"
    subprocess.run([sys.executable, '-c', check], check=True)
