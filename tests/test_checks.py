"""l2m_utils.checks: the one integer check of the package."""

import numpy as np
import pytest

from l2m_utils.checks import integer, is_integer, seeded_rng


@pytest.mark.parametrize("value", [0, 7, -3, np.int64(5), np.uint8(2), 10**20])
def test_integers_are_integers(value):
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), 3.0, np.float64(2), "4", None, [1], np.array([1])])
def test_bools_floats_strings_and_arrays_are_not(value):
    assert not is_integer(value)


def test_a_refused_numpy_scalar_is_shown_as_a_plain_number():
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 2.5$"):
        integer(np.float64(2.5), "n")
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 0$"):
        integer(np.int64(0), "n")


def test_returns_a_python_int():
    out = integer(np.int32(4), "n")
    assert out == 4 and type(out) is int


@pytest.mark.parametrize("kwargs, value, message", [
    ({}, 0, "n must be a positive integer, got 0"),
    ({}, 2.0, "n must be a positive integer, got 2.0"),
    ({}, True, "n must be a positive integer, got True"),
    ({"minimum": 0}, -1, "n must be an integer >= 0, got -1"),
    ({"minimum": 2, "why": "BOS + one token"}, 1, r"n must be an integer >= 2 \(BOS \+ one token\), got 1"),
    ({"minimum": 1, "maximum": 5}, 6, r"n must be an integer in \[1, 5\], got 6"),
    ({"minimum": None, "maximum": 3}, 4, "n must be an integer <= 3, got 4"),
    ({"minimum": None}, "x", "n must be an integer, got 'x'"),
])
def test_refusals_name_the_argument_the_requirement_and_the_value(kwargs, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        integer(value, "n", **kwargs)


@pytest.mark.parametrize("kwargs, value", [({}, 1), ({"minimum": 0}, 0), ({"minimum": 1, "maximum": 5}, 5),
                                           ({"minimum": None}, -10**6), ({"minimum": None, "maximum": 3}, 3)])
def test_bounds_are_inclusive(kwargs, value):
    assert integer(value, "n", **kwargs) == value


def test_listed_takes_sequences_and_refuses_single_values():
    from l2m_utils.checks import listed

    assert listed([1, 2], "xs") == [1, 2]
    assert listed((1, 2), "xs") == [1, 2]
    assert listed((k for k in range(3)), "xs") == [0, 1, 2]
    assert listed(np.array([4, 5]), "xs") == [4, 5]
    for bad in ("abc", b"abc", 3, 2.5, np.int64(3), np.array(7)):
        with pytest.raises(ValueError, match=r"xs must be a list of integers, got .*: wrap a single one as \["):
            listed(bad, "xs", "integers")


def test_integers_checks_each_item_and_refuses_empty_and_single_values():
    from l2m_utils.checks import integers

    got = integers(np.array([3, 1, 2]), "distances", "distance")
    assert got == [3, 1, 2] and all(type(v) is int for v in got)
    assert integers(range(2, 5), "lengths", "length", minimum=2) == [2, 3, 4]
    for bad, message in [([1, 2.0], "distance must be a positive integer, got 2.0"),
                         ([1, 0], "distance must be a positive integer, got 0"),
                         ([True], "distance must be a positive integer, got True"),
                         (np.array([1.0, 2.0]), "distance must be a positive integer, got 1.0"),
                         ([], "distances must name at least one distance, got none"),
                         (4, r"distances must be a list of integers, got 4: wrap a single one as \[4\]")]:
        with pytest.raises(ValueError, match=message):
            integers(bad, "distances", "distance")
    with pytest.raises(ValueError, match="length must be an integer >= 2, got 1"):
        integers([4, 1], "lengths", "length", minimum=2)


def test_seeded_rng_takes_an_explicit_seed_only():
    assert seeded_rng(7).random() == np.random.default_rng(7).random()
    assert seeded_rng(np.int64(0)).integers(1000) == np.random.default_rng(0).integers(1000)
    for bad in (None, 1.7, -1, "3", True):
        with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got"):
            seeded_rng(bad)
