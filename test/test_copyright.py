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

"""Copyright and licence headers, checked by ament_copyright as colcon test does."""

import pytest

main = pytest.importorskip(
    'ament_copyright.main', reason='ament_copyright is not installed (scripts/setup_env.sh '
    'installs it from ../shared/ros-tools; ROS machines have it)').main


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright(repo_root):
    rc = main(argv=[f'{repo_root}/ser_ros', f'{repo_root}/test', f'{repo_root}/launch',
                    f'{repo_root}/bench', f'{repo_root}/setup.py'])
    assert rc == 0, 'Found errors'
