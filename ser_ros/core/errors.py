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
One error contract for ser_ros: what a user got wrong is a :class:`SerError`.

Every error that names a user's mistake (a missing file, a bad model, a bad corpus, a bad
configuration, an unusable audio format) derives from :class:`SerError`; every console script
runs through :func:`run_cli`, which prints such errors as ``prog: message`` and exits with
status 2, without a traceback. Anything else is a bug in ser_ros and keeps its traceback.
"""

from collections.abc import Callable, Sequence
import sys

#: Exit status of a console script stopped by a user error.
USER_ERROR_EXIT = 2


class SerError(ValueError):
    """A user error (input, file, model or configuration); the message says what and where."""


def run_cli(prog: str, main: Callable[[Sequence[str] | None], int | None],
            argv: Sequence[str] | None = None) -> int:
    """
    Run a console script's ``main`` under the error contract.

    Parameters
    ----------
    prog : str
        The script's name, the prefix of its error messages.
    main : callable
        ``main(argv)``; returns the exit status (None counts as 0).
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: ``main``'s, or :data:`USER_ERROR_EXIT` after a user error.

    """
    try:
        return int(main(argv) or 0)
    except SerError as error:
        print(f'{prog}: {error}', file=sys.stderr)
    except OSError as error:
        # A missing or unreadable file named on the command line.
        where = f'{error.filename}: ' if error.filename else ''
        print(f'{prog}: {where}{error.strerror or error}', file=sys.stderr)
    return USER_ERROR_EXIT
