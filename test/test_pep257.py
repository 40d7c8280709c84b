"""Style: docstrings checked by ament_pep257, as every ament_python package runs it."""

import pytest
from ament_pep257.main import main


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(repo_root):
    rc = main(argv=[f'{repo_root}/ser_ros', f'{repo_root}/test'])
    assert rc == 0, 'Found code style errors / warnings'
