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
Configuration dataclasses from plain data (YAML, JSON), checked field by field.

:func:`from_plain` builds a dataclass from a dictionary and refuses, naming the key:
unknown keys (a typo is an error, not a silently ignored setting), missing required keys, and
values of the wrong type for the field's annotation, including NaN and infinite numbers.
Nested dataclasses, ``X | None``, ``list[X]``, ``tuple[X, ...]`` and ``dict[str, X]`` are
followed. Model bundles and the training configuration are read with it.
"""

from dataclasses import fields, is_dataclass, MISSING
import math
import types
import typing
from typing import Any

from ser_ros.core.errors import SerError


class ConfigError(SerError):
    """A configuration value that is unknown, missing or of the wrong type; names the key."""


def from_plain(kind: Any, values: object, key: str) -> Any:
    """
    Build a value of type ``kind`` from plain data, checking every key and type.

    Parameters
    ----------
    kind : type
        A dataclass whose fields are annotated with the types they hold, or an annotation
        such as ``list[str]``.
    values : object
        Plain data, as ``dataclasses.asdict`` or a YAML/JSON reader gave it.
    key : str
        The key path of these settings, for the messages (e.g. ``'training'``).

    Raises
    ------
    ConfigError
        Naming the first key that is unknown, missing or of the wrong type.

    """
    return _convert(values, kind, key)


def _convert(value: object, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if is_dataclass(annotation):
        return _dataclass(annotation, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        options = [option for option in arguments if option is not type(None)]
        problems = []
        for option in options:
            try:
                return _convert(value, option, key)
            except ConfigError as error:
                problems.append(str(error))
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f'{key}: {value!r} is none of {_name(annotation)}')
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key}: expected a list, got {value!r}')
        return [_convert(item, arguments[0], f'{key}[{index}]')
                for index, item in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key}: expected a list, got {value!r}')
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            arguments = (arguments[0],) * len(value)
        if len(value) != len(arguments):
            raise ConfigError(f'{key}: expected {len(arguments)} values, got {value!r}')
        return tuple(_convert(item, argument, f'{key}[{index}]')
                     for index, (item, argument) in enumerate(zip(value, arguments)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f'{key}: expected a mapping, got {value!r}')
        return {_convert(name, arguments[0], key): _convert(item, arguments[1], f'{key}.{name}')
                for name, item in value.items()}
    return _scalar(value, annotation, key)


def _scalar(value: object, annotation: Any, key: str) -> Any:
    if annotation is Any or annotation is object:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f'{key}: {value!r} is not a finite number')
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f'{key}: cannot check values of type {annotation!r}')
    raise ConfigError(f'{key}: expected {_name(annotation)}, got {value!r}')


def _dataclass(cls: Any, values: object, key: str) -> Any:
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f'{key}: expected a mapping of settings, got {values!r}')
    hints = typing.get_type_hints(cls)
    known = {field.name: field for field in fields(cls) if field.init}
    unknown = sorted(set(values) - set(known), key=str)
    if unknown:
        raise ConfigError(f'unknown setting {_join(key, unknown[0])} (known: '
                          f'{", ".join(sorted(known))})')
    missing = [name for name, field in known.items() if name not in values
               and field.default is MISSING and field.default_factory is MISSING]
    if missing:
        raise ConfigError(f'missing setting {_join(key, missing[0])}')
    return cls(**{name: _convert(value, hints[name], _join(key, name))
                  for name, value in values.items()})


def _join(key: str, name: object) -> str:
    return f'{key}.{name}' if key else str(name)


def _name(annotation: Any) -> str:
    return getattr(annotation, '__name__', None) or str(annotation)
