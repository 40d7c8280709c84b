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

"""Static types: mypy over the recognition core (settings in setup.cfg's [mypy])."""

import os

from mypy import api
import pytest


@pytest.mark.mypy
@pytest.mark.linter
def test_mypy_finds_no_type_error_in_the_core(repo_root, tmp_path):
    stdout, stderr, status = api.run([
        '--config-file', os.path.join(repo_root, 'setup.cfg'),
        '--cache-dir', str(tmp_path / 'mypy_cache'), os.path.join(repo_root, 'ser_ros', 'core')])
    assert status == 0, stdout + stderr
