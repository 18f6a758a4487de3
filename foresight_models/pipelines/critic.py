"""The VLM as critic: a rating prompt, parsing of its answer, and best-first ranking.

The pipeline asks the VLM :data:`RATING_PROMPT` about each predicted continuation and reads the
first number in the answer as the continuation's plausibility score on the scale
``[RATING_MIN, RATING_MAX]``. An answer without a number in that range gives ``nan`` (the raw answer
is kept beside it), never a default score; ranking puts ``nan`` last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["RATING_MAX", "RATING_MIN", "RATING_PROMPT", "parse_rating", "rank_best_first"]

RATING_MIN = 0.0
RATING_MAX = 10.0

#: What the critic is asked about every continuation (the clip is shown as a video before it).
RATING_PROMPT = (
    "This video continues the scene shown before it. Rate how physically plausible and coherent the "
    f"continuation is, from {RATING_MIN:g} (impossible) to {RATING_MAX:g} (entirely plausible). "
    "Answer with a single number."
)

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_rating(answer: str) -> float:
    """The first number in ``answer`` if it lies in ``[RATING_MIN, RATING_MAX]``, else ``nan``.

    ``"8"``, ``"Score: 7.5/10"`` and ``"I'd say 9."`` parse to 8.0, 7.5 and 9.0; ``"plausible"``
    and ``"42"`` give ``nan``.
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer: expected str, got {type(answer).__name__}")
    match = _NUMBER.search(answer)
    if match is None:
        return math.nan
    value = float(match.group())
    return value if RATING_MIN <= value <= RATING_MAX else math.nan


def rank_best_first(scores: Sequence[float]) -> list[int]:
    """Indices of ``scores`` from best (highest) to worst, ``nan`` last; ties keep their order."""
    return sorted(
        range(len(scores)), key=lambda i: (math.isnan(scores[i]), -scores[i] if not math.isnan(scores[i]) else 0)
    )
