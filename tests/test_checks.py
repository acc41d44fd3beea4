"""The one validation module: what each check accepts, and the message when it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_float
from optuna_amoeba._checks import check_int
from optuna_amoeba._checks import check_optional_int
from optuna_amoeba._checks import check_probability


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_int_accepts_python_and_numpy_integers(value: object) -> None:
    result = check_int("n", value, 1, 5)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "n must be an int in [1, 5], got True"),
        (2.0, "n must be an int in [1, 5], got 2.0"),
        ("2", "n must be an int in [1, 5], got '2'"),
        (0, "n must be an int in [1, 5], got 0"),
        (6, "n must be an int in [1, 5], got 6"),
    ],
)
def test_int_refuses_with_range_and_value(value: object, message: str) -> None:
    with pytest.raises(ValueError) as error:
        check_int("n", value, 1, 5)
    assert str(error.value) == message


def test_optional_int_names_none_as_allowed() -> None:
    assert check_optional_int("n", None, 1) is None
    with pytest.raises(ValueError, match=r"^n must be None or an int >= 1, got 0$"):
        check_optional_int("n", 0, 1)


@pytest.mark.parametrize("value", [0.3, np.float32(0.3), np.float64(0.3), 0, np.int32(1)])
def test_probability_accepts_numpy_numbers(value: object) -> None:
    assert check_probability("p", value) == pytest.approx(float(value), abs=1e-7)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, 1.5, True, "0.5", None])
def test_probability_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"^p must be a probability in \[0, 1\], got "):
        check_probability("p", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_float_refuses_nan_and_infinity(value: object) -> None:
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got "):
        check_float("lr", value, low=0.0, low_open=True)


def test_float_bounds() -> None:
    assert check_float("x", 0, low=0.0) == 0.0
    with pytest.raises(ValueError, match=r"^x must be a finite number > 0, got 0$"):
        check_float("x", 0, low=0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^x must be a number in \[0, 2\], got 3$"):
        check_float("x", 3, low=0.0, high=2.0)


def test_bool() -> None:
    assert check_bool("flag", np.bool_(True)) is True
    with pytest.raises(ValueError, match=r"^flag must be True or False, got 1$"):
        check_bool("flag", 1)
