"""Bad configuration is refused where it is written, before any model loads or any step trains.

Every check names the setting (`SFTSettings.batch_size`), the value it got and what was expected.
Malformed datasets have their own error, ftlab.core.data.DatasetError, which names the file and row.
"""

from __future__ import annotations

import math


class ConfigError(ValueError):
    """A setting, profile or method name that ftlab cannot run with; the message says which and what it expects."""


def whole_number(owner: str, field: str, value, minimum: int, meaning: str) -> None:
    """`value` must be an int (not a bool, not a string) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}.{field} must be a whole number >= {minimum} ({meaning}); got {value!r}")


def positive_number(owner: str, field: str, value, meaning: str) -> None:
    """`value` must be a finite number above zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{owner}.{field} must be a finite number > 0 ({meaning}); got {value!r}")


def number_in(owner: str, field: str, value, low: float, high: float, meaning: str) -> None:
    """`value` must be a finite number with low <= value < high."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not low <= value < high):
        raise ConfigError(f"{owner}.{field} must be a number in [{low}, {high}) ({meaning}); got {value!r}")


def one_of(owner: str, field: str, value, allowed, meaning: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{owner}.{field} must be one of {', '.join(map(str, allowed))} ({meaning}); "
                          f"got {value!r}")
