"""Argument checks shared by the helpers.  Introduced in chapter 1 (the first helpers that check their input).

Bad input must raise an error that names the problem: one function, :func:`integer`, checks every
integer argument of the package (block lengths, distances, sizes, counts, seeds), so that all of them
accept the same things (Python and numpy integers, not ``bool`` and not ``3.0``) and say the same
thing when they refuse, e.g. ``ValueError: distance must be a positive integer, got 0``.
:func:`listed` does the same for list arguments (distances, lengths, names): a single string or number
is refused with a message that says how to wrap it, instead of being read character by character.
:func:`integers` combines the two for the package's lists of integers (distances, block lengths), and
:func:`strings` for lists of texts.
:func:`is_real` tells a number from a string or ``bool`` for real-valued arguments (split ratios, ``z``),
and :func:`real` checks one such argument against its interval (``weight_decay must be a finite number in
[0, 1), got -1``).  :func:`token_stream` checks a 1-D stream of token ids (training and held-out text).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["is_integer", "is_real", "integer", "real", "listed", "integers", "strings", "token_stream"]


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


def real(value: Any, name: str, low: float | None = None, high: float | None = None, *,
         low_open: bool = False, high_open: bool = False, why: str = "") -> float:
    """``float(value)`` after checking that it is a finite real number (not a string, ``bool``, NaN or
    infinity) in the interval from ``low`` to ``high`` (closed ends unless ``low_open``/``high_open``;
    ``None``: unbounded): ``lr must be a finite number in (0, inf), got nan``."""
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None and (value <= low if low_open else value < low):
        ok = False
    if ok and high is not None and (value >= high if high_open else value > high):
        ok = False
    if not ok:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        reason = f" ({why})" if why else ""
        shown = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"{name} must be a finite number in {left}{lo}, {hi}{right}{reason}, got {shown!r}")
    return float(value)


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


def strings(value: Any, name: str) -> list[str]:
    """``value`` as a list of strings (texts, samples): a single string is refused by :func:`listed`,
    and an item that is not a ``str`` is named with its position: ``texts must be strings, got
    NoneType at position 2``."""
    items = listed(value, name, "strings")
    for k, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"{name} must be strings, got {type(item).__name__} at position {k}")
    return items


def token_stream(value: Any, name: str, vocab_size: int | None = None, min_length: int = 1,
                 why: str = "") -> np.ndarray:
    """A 1-D stream of integer token ids as int64, after checking its shape, dtype (floats are refused,
    never rounded), its length (``>= min_length``, with ``why`` saying what needs it) and, given
    ``vocab_size``, that every id lies in ``[0, vocab_size)``: ``heldout_stream of 3 tokens is shorter
    than 8 tokens (one window of n_ctx = 8)``."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D stream of token ids, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_) and arr.size:
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.size and arr.dtype == np.uint64 and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds token id {int(arr.max())}, beyond int64: not a vocabulary id")
    if len(arr) < min_length:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} of {len(arr)} tokens is shorter than {min_length} tokens{reason}")
    if vocab_size is not None and arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"{name} ids must lie in [0, {vocab_size}), found [{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.int64)


def seeded_rng(seed: Any) -> np.random.Generator:
    """``np.random.default_rng(seed)`` for an explicit integer seed >= 0 (``None``, a float or a string is
    refused: ``None`` would draw fresh OS entropy, and results would change from run to run)."""
    return np.random.default_rng(integer(seed, "seed", minimum=0))
