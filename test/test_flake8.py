"""Style: flake8 with the ament configuration, as every ament_python package runs it."""

import pytest
from ament_flake8.main import main_with_errors


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(repo_root):
    rc, errors = main_with_errors(argv=[
        f'{repo_root}/ser_ros', f'{repo_root}/test', f'{repo_root}/launch',
        f'{repo_root}/bench', f'{repo_root}/setup.py'])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
