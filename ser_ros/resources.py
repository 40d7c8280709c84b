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

"""
Where ser_ros finds its installed files and the shared corpora.

The shipped model and the parameters file are installed into the package's share folder
(``share/ser_ros``, found through the ament index); a checkout that is not installed uses its
own ``models/`` and ``config/``. ament_index_python is imported only when a path is asked
for, so that the recognition core never needs it.
"""

import os

#: The source checkout this module lives in (used when ser_ros is not installed).
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def share_folder() -> str | None:
    """Return the installed ``share/ser_ros`` folder, or None when ser_ros is not installed."""
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    try:
        return get_package_share_directory('ser_ros')
    except (PackageNotFoundError, ValueError):
        return None


def _installed_or_source(*parts: str) -> str:
    share = share_folder()
    installed = os.path.join(share, *parts) if share else ''
    return installed if os.path.exists(installed) else os.path.join(SOURCE_ROOT, *parts)


def default_model_path() -> str:
    """Return the folder of the shipped default model (installed, else the checkout's)."""
    return _installed_or_source('models', 'default')


def params_file() -> str:
    """Return the node's parameters file ``config/ser.yaml`` (installed, else the checkout's)."""
    return _installed_or_source('config', 'ser.yaml')


def shared_data_folder() -> str | None:
    """Return the shared corpora: ``$SER_ROS_DATA``, or ``../shared/data`` beside the checkout."""
    candidates = [os.environ.get('SER_ROS_DATA', ''),
                  os.path.join(os.getcwd(), '..', 'shared', 'data'),
                  os.path.join(SOURCE_ROOT, '..', 'shared', 'data')]
    return next((path for path in candidates if path and os.path.isdir(path)), None)
