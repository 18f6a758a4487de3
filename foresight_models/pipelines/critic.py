"""The VLM as critic: a rating prompt, parsing of its answer, and best-first ranking.

The pipeline asks the VLM :data:`RATING_PROMPT` about each predicted continuation and reads the
last stand-alone number in the answer that lies on the scale ``[RATING_MIN, RATING_MAX]`` (mentions
of the scale itself skipped) as the continuation's plausibility score. An answer without one gives ``nan`` (the raw answer
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

# a number standing on its own: not glued to letters or digits ("E9", "v2", "3D" are not ratings); a sign
# counts only at the start of a word ("7-8" reads 7 and 8, "-3" reads -3)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?![\w]|\.\d)")
# mentions of the scale itself, removed before reading the rating
_SCALE = re.compile(
    r"(?:from|between)\s+0\s+(?:to|and)\s+10\b"  # "from 0 to 10", "between 0 and 10"
    r"|\b0\s*(?:-|–|to)\s*10\b"  # "0-10", "0 to 10"
    r"|(?:/|\bout\s+of\b|\bof\b)\s*10(?:\.0+)?\b",  # the denominator of "8/10", "6 out of 10"
    re.IGNORECASE,
)


def parse_rating(answer: str) -> float:
    """The rating an answer gives: its last stand-alone number in ``[RATING_MIN, RATING_MAX]``, else ``nan``.

    Mentions of the scale are not ratings: "from 0 to 10", "between 0 and 10", "0-10" and the
    denominator of "8/10" or "6 out of 10" are skipped. A number glued to letters ("E9") is not a
    rating, and a signed number keeps its sign ("-3" is out of range, not 3). So ``"8/10"``,
    ``"Rating: 7.5"``, ``"I'd say 6 out of 10"`` and ``"On a scale from 0 to 10, I give it 8."`` parse to
    8, 7.5, 6 and 8; ``"E9"``, ``"no idea"``, ``"11"`` and ``"-3"`` give ``nan`` ("no rating").
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer: expected str, got {type(answer).__name__}")
    values = [float(match) for match in _NUMBER.findall(_SCALE.sub(" ", answer))]
    in_range = [value for value in values if RATING_MIN <= value <= RATING_MAX]
    return in_range[-1] if in_range else math.nan


def rank_best_first(scores: Sequence[float]) -> list[int]:
    """Indices of ``scores`` from best (highest) to worst, ``nan`` last; ties keep their order."""
    return sorted(
        range(len(scores)), key=lambda i: (math.isnan(scores[i]), -scores[i] if not math.isnan(scores[i]) else 0)
    )
