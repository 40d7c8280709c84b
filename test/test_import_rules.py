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

"""The layout's rule, kept by a test: ``core`` is imported by the others, imports none of them."""

import ast
import importlib.util
import pkgutil
import subprocess
import sys

import pytest
import ser_ros

#: What no module of ser_ros.core may bring in: ROS, and the training and tool libraries.
FORBIDDEN_IN_CORE = ('rclpy', 'ament_index_python', 'hmmlearn', 'matplotlib', 'sklearn',
                     'rosbags', 'ser_ros.ros', 'ser_ros.training', 'ser_ros.tools')
#: What core's own import statements may not name (torch itself loads tqdm, so tqdm is
#: checked in the source rather than in sys.modules).
NOT_IMPORTED_BY_CORE_SOURCE = (*FORBIDDEN_IN_CORE, 'tqdm')
#: What the offline tools (``ser-bag score --offline``, ``ser-predict``) may not bring in.
FORBIDDEN_IN_OFFLINE_TOOLS = ('rclpy', 'ser_ros.ros')
OFFLINE_TOOLS = ('ser_ros.tools.bag_cli', 'ser_ros.tools.bags', 'ser_ros.tools.predict',
                 'ser_ros.tools.scoring', 'ser_ros.tools.streams', 'ser_ros.training.train',
                 'ser_ros.training.evaluate')


def modules_of(package):
    """Return every module of a subpackage of ser_ros, found by walking it (not a hand list)."""
    module = __import__(f'ser_ros.{package}', fromlist=['_'])
    return [info.name for info in pkgutil.walk_packages(module.__path__, f'ser_ros.{package}.')]


def imported_by(*modules):
    """
    Return the modules a fresh interpreter holds after importing ``modules``.

    One interpreter for a whole group: a module that none of them may load is then absent
    after each of them alone too.
    """
    done = subprocess.run([sys.executable, '-c', f'import sys, {", ".join(modules)}; '
                           'print("\\n".join(sys.modules))'],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_package_has_the_four_roles_and_nothing_else_at_the_top():
    top = {info.name for info in pkgutil.iter_modules(ser_ros.__path__)}
    assert top == {'core', 'ros', 'training', 'tools', 'resources'}


def leaked(loaded, forbidden):
    """Return the names in ``loaded`` that are, or are inside, a ``forbidden`` module."""
    return sorted(name for name in loaded
                  if any(name == bad or name.startswith(bad + '.') for bad in forbidden))


def test_core_modules_import_no_ros_and_no_training_library():
    core = modules_of('core')
    assert {'ser_ros.core.recognizer', 'ser_ros.core.bundle', 'ser_ros.core.intake'} <= set(core)
    assert not leaked(imported_by(*core), FORBIDDEN_IN_CORE)


#: What the node's data path does not load: librosa's module tree (and numba and scipy.signal
#: with it) takes 2-3 s of the node's start-up; core writes out the four functions it needs.
SLOW_TO_IMPORT = ('librosa', 'numba', 'scipy.signal')


def test_the_node_loads_no_librosa_even_once_it_runs():
    # Imported, then run: librosa loads its modules lazily, on first use.
    done = subprocess.run([sys.executable, '-c', (
        'import sys\n'
        'import numpy as np\n'
        'import ser_ros.ros.node\n'
        'from ser_ros.core.bundle import load_bundle\n'
        'from ser_ros.core.recognizer import StreamingRecognizer\n'
        'from ser_ros.resources import default_model_path\n'
        'recognizer = StreamingRecognizer(load_bundle(default_model_path()))\n'
        'recognizer.push(np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32))\n'
        'print("\\n".join(sys.modules))')], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert 'ser_ros.core.features' in loaded
    assert not leaked(loaded, SLOW_TO_IMPORT)


def imports_in_source(module):
    """Return the modules named by the import statements of ``module``'s source."""
    with open(importlib.util.find_spec(module).origin) as stream:
        tree = ast.parse(stream.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize('module', modules_of('core'))
def test_core_source_names_no_ros_and_no_training_library(module):
    named = [name for name in imports_in_source(module) if any(
        name == bad or name.startswith(bad + '.') for bad in NOT_IMPORTED_BY_CORE_SOURCE)]
    assert not named, f'{module} imports {sorted(named)}'


def test_the_node_loads_no_training_or_tool_library():
    loaded = imported_by('ser_ros.ros.node')
    assert 'rclpy' in loaded
    assert not leaked(loaded, ('hmmlearn', 'sklearn', 'matplotlib', 'rosbags',
                               'ser_ros.training', 'ser_ros.tools'))


def test_offline_tools_and_training_run_without_rclpy():
    assert not leaked(imported_by(*OFFLINE_TOOLS), FORBIDDEN_IN_OFFLINE_TOOLS)


@pytest.mark.parametrize('package', ['ros', 'training', 'tools'])
def test_every_module_of_the_other_roles_imports(package):
    modules = modules_of(package)
    assert modules and set(modules) <= imported_by(*modules)
