"""Read configuration dataclasses back from the plain dictionaries they are saved as."""

from dataclasses import fields


def from_plain_dict(cls, values, what):
    """
    Build the dataclass ``cls`` from ``values``, naming unknown keys instead of ignoring them.

    Parameters
    ----------
    cls : type
        A dataclass.
    values : dict
        Field values, as ``dataclasses.asdict`` wrote them.
    what : str
        What the settings are, for the error message (e.g. ``'feature settings'``).

    Raises
    ------
    ValueError
        When ``values`` has keys that are not fields of ``cls``.

    """
    unknown = set(values) - {field.name for field in fields(cls)}
    if unknown:
        raise ValueError(f'unknown {what}: {sorted(unknown)}')
    return cls(**values)
