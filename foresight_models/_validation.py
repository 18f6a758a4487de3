"""The argument checks every module uses (kept free of heavy imports).

One vocabulary, so that every public function refuses bad input the same way: a ``TypeError`` when
the value has the wrong type, a ``ValueError`` when it has the right type but is out of range, and
in both cases a message that starts with the argument's name and says what was given and what is
allowed. ``bool`` is never accepted where a number is expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_keys",
    "check_probability",
    "check_real",
    "check_size_pair",
]


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_int(
    value: Any, name: str, *, minimum: int | None = 1, maximum: int | None = None, plain: bool = False
) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer in ``[minimum, maximum]``.

    NumPy integers are accepted unless ``plain=True``, which constructors whose arguments are saved
    in a JSON model config pass (a NumPy integer there would only fail later, at ``save_pretrained``).
    ``minimum=None`` / ``maximum=None`` leave that side open.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int if plain else numbers.Integral):
        kind = "a Python int (it is saved in the model config)" if plain else "an int"
        raise TypeError(f"{name}: expected {kind}, got {value!r} ({_type_name(value)})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}: expected an int {_range_text(minimum, maximum)}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """Return ``value`` as a ``float`` after checking it is a real number in the given range.

    Any ``numbers.Real`` is accepted (``int``, ``float``, NumPy scalars, ``Fraction``) but ``bool``;
    ``finite=True`` refuses ``nan`` and ``±inf``.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is not finite (when required) or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({_type_name(value)})")
    as_float = float(value)
    out_of_range = (
        math.isnan(as_float)
        or (finite and not math.isfinite(as_float))
        or (minimum is not None and (as_float < minimum if min_inclusive else as_float <= minimum))
        or (maximum is not None and (as_float > maximum if max_inclusive else as_float >= maximum))
    )
    if out_of_range:
        bounds = _range_text(minimum, maximum, min_inclusive=min_inclusive, max_inclusive=max_inclusive)
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{name}: expected {kind}{' ' + bounds if bounds else ''}, got {value!r}")
    return as_float


def check_probability(value: Any, name: str, *, allow_one: bool = False) -> float:
    """A real number in ``[0, 1)`` (dropout rates and the like), or ``[0, 1]`` with ``allow_one=True``."""
    return check_real(value, name, minimum=0.0, maximum=1.0, max_inclusive=allow_one)


def check_bool(value: Any, name: str) -> bool:
    """``True`` or ``False`` (NumPy booleans included); ints and other truthy values are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {value!r} ({_type_name(value)})")


def check_choice(value: Any, name: str, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices`` (compared with ``==``, so strings match by value).

    Raises:
        ValueError: ``value`` is not one of ``choices`` (the message lists them).
    """
    try:
        found = not isinstance(value, bool) and value in choices
    except TypeError:  # an unhashable value against a set
        found = False
    if not found:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {value!r}")
    return value


def check_keys(
    section: Any, name: str, allowed: Sequence[str], *, required: Sequence[str] = ()
) -> dict[str, Any]:
    """Return a config section as a ``dict`` after checking it is a mapping with only ``allowed`` keys.

    ``name`` is the section's place in the config (``"optim"``, ``"task.lora"``; ``""`` for the top
    level); messages name the offending key as ``name.key``.

    Raises:
        TypeError: ``section`` is not a mapping.
        ValueError: an unknown key (the message lists the allowed ones, in order) or a missing
            ``required`` one.
    """
    if not isinstance(section, Mapping):
        raise TypeError(f"{name or 'config'}: expected a mapping of keys to values, got {section!r} ({_type_name(section)})")
    listed = ", ".join(map(str, allowed))
    for key in section:
        if key not in allowed:
            where = f"{name}.{key}" if name else str(key)
            raise ValueError(f"{where}: unknown key {key!r}; allowed keys: {listed}")
    for key in required:
        if key not in section:
            where = f"{name}.{key}" if name else str(key)
            raise ValueError(f"{where}: missing required key {key!r}")
    return dict(section)


def check_size_pair(value: Any, name: str, *, minimum: int = 1, plain: bool = False) -> tuple[int, int]:
    """An int (a square) or a ``(height, width)`` pair of ints, each ``>= minimum``, as ``(h, w)``.

    Raises:
        TypeError: ``value`` is neither an int nor a pair of ints.
        ValueError: a side is below ``minimum``.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        side = check_int(value, name, minimum=minimum, plain=plain)
        return side, side
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected an int (a square) or a (height, width) pair of ints, got {value!r}")
    height = check_int(value[0], f"{name}[0] (height)", minimum=minimum, plain=plain)
    width = check_int(value[1], f"{name}[1] (width)", minimum=minimum, plain=plain)
    return height, width


def _range_text(
    minimum: float | None, maximum: float | None, *, min_inclusive: bool = True, max_inclusive: bool = True
) -> str:
    if minimum is not None and maximum is not None:
        return f"in {'[' if min_inclusive else '('}{minimum}, {maximum}{']' if max_inclusive else ')'}"
    if minimum is not None:
        return f"{'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f"{'<=' if max_inclusive else '<'} {maximum}"
    return ""
