"""Argument checks shared by the sampler, the visualizations and the training code.

Every check raises ``ValueError`` naming the argument, what is allowed and the value given.
Numpy scalars count as the Python numbers they stand for; ``bool`` is never a number here.
"""

from __future__ import annotations

import math
from numbers import Integral
from numbers import Real

import numpy as np
from optuna.study import StudyDirection


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (no upper bound when ``high`` is None)."""
    allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be {allowed}, got {number}")
    return number


def check_optional_int(name: str, value: object, low: int, high: int | None = None) -> int | None:
    """Like :func:`check_int`, with ``None`` allowed and returned as is."""
    if value is None:
        return None
    try:
        return check_int(name, value, low, high)
    except ValueError:
        allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
        raise ValueError(f"{name} must be None or {allowed}, got {value!r}") from None


def check_float(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in ``[low, high]``; ``low_open`` and ``high_open``
    leave out that end."""
    if math.isinf(low) and math.isinf(high):
        allowed = "a finite number"
    elif math.isinf(high):
        allowed = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        allowed = f"a number in {bounds}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    number = float(value)
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return number


def check_probability(name: str, value: object) -> float:
    """``value`` as a ``float`` in ``[0, 1]``."""
    try:
        return check_float(name, value, low=0.0, high=1.0)
    except ValueError:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (numpy's ``bool_`` included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_optional_bool(name: str, value: object) -> bool | None:
    """Like :func:`check_bool`, with ``None`` allowed and returned as is."""
    if value is None:
        return None
    try:
        return check_bool(name, value)
    except ValueError:
        raise ValueError(f"{name} must be True, False or None, got {value!r}") from None


def check_direction(name: str, value: object) -> StudyDirection:
    """``value`` as a ``StudyDirection``: ``MINIMIZE`` or ``MAXIMIZE``, or its name in lower
    case as ``optuna.create_study`` takes it."""
    if isinstance(value, StudyDirection) and value != StudyDirection.NOT_SET:
        return value
    if value in ("minimize", "maximize"):
        return StudyDirection[str(value).upper()]
    raise ValueError(
        f"{name} must be StudyDirection.MINIMIZE or MAXIMIZE, 'minimize' or 'maximize', "
        f"got {value!r}"
    )
