"""Argument checks shared across the package (kept free of heavy imports)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["check_int"]


def check_int(value: Any, name: str, *, minimum: int = 1, plain: bool = False) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= minimum``.

    NumPy integers are accepted unless ``plain=True``, which constructors whose arguments are saved
    in a JSON model config pass (a NumPy integer there would only fail later, at ``save_pretrained``);
    ``bool`` is never accepted.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int if plain else numbers.Integral):
        kind = "a Python int (it is saved in the model config)" if plain else "an int"
        raise TypeError(f"{name}: expected {kind}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)
