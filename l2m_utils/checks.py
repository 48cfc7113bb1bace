"""Argument checks shared by the helpers.  Introduced in chapter 1 (the first helpers that check their input).

Bad input must raise an error that names the problem: one function, :func:`integer`, checks every
integer argument of the package (block lengths, distances, sizes, counts, seeds), so that all of them
accept the same things (Python and numpy integers, not ``bool`` and not ``3.0``) and say the same
thing when they refuse, e.g. ``ValueError: distance must be a positive integer, got 0``.
:func:`listed` does the same for list arguments (distances, lengths, names): a single string or number
is refused with a message that says how to wrap it, instead of being read character by character.
:func:`integers` combines the two for the package's lists of integers (distances, block lengths).
:func:`is_real` tells a number from a string or ``bool`` for real-valued arguments (split ratios, ``z``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_integer", "is_real", "integer", "listed", "integers"]


def is_integer(value: Any) -> bool:
    """True for a Python or numpy integer; ``bool`` (a subclass of ``int``) and floats are not."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """True for a Python or numpy integer or float (``2``, ``2.5``, ``np.float32(2)``); ``bool`` and strings
    are not (so ``"2"`` is refused instead of compared)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _requirement(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def integer(value: Any, name: str, minimum: int | None = 1, maximum: int | None = None, why: str = "") -> int:
    """``int(value)`` after checking that it is an integer with ``minimum <= value <= maximum``.

    ``minimum`` defaults to 1 (a positive integer); ``None`` means no bound.  ``ValueError`` names the
    argument, the requirement and, when given, the reason: ``n_ctx must be an integer >= 2
    (BOS + one token), got 1``.
    """
    ok = is_integer(value)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        reason = f" ({why})" if why else ""
        shown = value.item() if isinstance(value, np.generic) else value  # 2.0, not np.float64(2.0)
        raise ValueError(f"{name} must be {_requirement(minimum, maximum)}{reason}, got {shown!r}")
    return int(value)


def listed(value: Any, name: str, item: str = "values") -> list:
    """``list(value)`` after refusing a single string or number, which would otherwise be read as a
    sequence of characters or fail with "object is not iterable": ``ValueError: distances must be a
    list of integers, got 1: wrap a single one as [1]``."""
    single = (isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")
              or (isinstance(value, np.ndarray) and value.ndim == 0))
    if single:
        raise ValueError(f"{name} must be a list of {item}, got {value!r}: wrap a single one as [{value!r}]")
    return list(value)


def integers(value: Any, name: str, item: str, minimum: int | None = 1) -> list[int]:
    """A non-empty list of integers (distances, block lengths), each checked by :func:`integer` under
    the name ``item`` and the whole by :func:`listed`: ``distance must be a positive integer, got 2.0``;
    ``distances must name at least one distance, got none``."""
    values = [integer(v, item, minimum) for v in listed(value, name, "integers")]
    if not values:
        raise ValueError(f"{name} must name at least one {item}, got none")
    return values


def seeded_rng(seed: Any) -> np.random.Generator:
    """``np.random.default_rng(seed)`` for an explicit integer seed >= 0 (``None``, a float or a string is
    refused: ``None`` would draw fresh OS entropy, and results would change from run to run)."""
    return np.random.default_rng(integer(seed, "seed", minimum=0))
