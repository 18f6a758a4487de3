"""Text metric: action recall — does a description mention the action of a Something-Something label?

An SSv2 label is a template with placeholders, e.g. template ``"Pushing [something] from left to right"``
with placeholders ``["a pen"]``. A description *mentions the action* when it contains the template's
verb (its first word) and the head noun (last word) of every placeholder, after normalisation: lower
case, punctuation removed, simple suffix stemming (``pushing``/``pushed``/``pushes`` -> ``push``,
``pens`` -> ``pen``), and synonyms (``"push"`` also matches ``"shove"``), which callers can extend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["DEFAULT_SYNONYMS", "action_hits", "action_recall", "mentions_action", "normalize_words"]

#: Synonym groups keyed by stem; every word of a group matches every other.
DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "push": ("shove", "press", "nudge"),
    "pull": ("drag", "tug"),
    "put": ("place", "set", "lay", "position"),
    "take": ("pick", "grab", "lift", "remove"),
    "lift": ("raise", "pick"),
    "move": ("slide", "shift", "slid"),
    "throw": ("toss", "threw", "thrown"),
    "drop": ("fall", "fell"),
    "turn": ("rotate", "flip", "spin"),
    "open": ("unfold",),
    "close": ("shut",),
    "tear": ("rip", "tore", "torn"),
    "squeeze": ("squash", "compress"),
    "pour": ("fill",),
    "hold": ("held", "grasp"),
    "show": ("present", "display"),
    "cover": ("hide",),
    "cup": ("mug", "glass"),
    "bottle": ("flask",),
    "phone": ("smartphone", "cellphone"),
}

_ARTICLES = frozenset({"a", "an", "the", "some", "of", "its", "his", "her", "their", "my", "your"})


def _stem(word: str) -> str:
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "lsz":  # putting -> put
                word = word[:-1]
            return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def normalize_words(text: str) -> list[str]:
    """Lower-case, strip punctuation and stem: ``"Pushing the pens."`` -> ``["push", "the", "pen"]``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return [_stem(word) for word in re.findall(r"[a-z0-9]+", text.lower())]


def _synonym_table(synonyms: Mapping[str, Sequence[str]] | None) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    merged: dict[str, list[str]] = {key: list(value) for key, value in DEFAULT_SYNONYMS.items()}
    for key, value in (synonyms or {}).items():
        if isinstance(value, str):
            raise TypeError(f"synonyms[{key!r}] must be a sequence of words, got the string {value!r}")
        merged.setdefault(key, []).extend(value)
    for key, words in merged.items():
        group = {_stem(key)} | {_stem(w) for word in words for w in normalize_words(word)}
        for word in list(group):
            groups.setdefault(word, {word}).update(group)
    return groups


def _label_parts(label: Any) -> tuple[str, list[str]]:
    """``(template, placeholders)`` of an SSv2 label given as a mapping, an object or a plain string."""
    if isinstance(label, str):
        return label, []
    if isinstance(label, Mapping):
        template, placeholders = label.get("template"), label.get("placeholders", [])
    else:
        template, placeholders = getattr(label, "template", None), getattr(label, "placeholders", [])
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"label needs a non-empty 'template' string, got {label!r}")
    if isinstance(placeholders, str) or not all(isinstance(p, str) for p in placeholders):
        raise ValueError(f"label 'placeholders' must be a list of strings, got {placeholders!r}")
    return template, list(placeholders)


def mentions_action(description: str, label: Any, *, synonyms: Mapping[str, Sequence[str]] | None = None) -> bool:
    """Whether ``description`` mentions the action of ``label``.

    Args:
        description: free text, e.g. a VLM's description of a clip.
        label: ``{"template": "Pushing [something] from left to right", "placeholders": ["a pen"]}``
            (or an object with those attributes); a plain string is taken as a template with no
            placeholders, so only its verb is checked.
        synonyms: extra synonym groups ``{"push": ["poke"], ...}`` merged into :data:`DEFAULT_SYNONYMS`.

    Returns:
        ``True`` when the verb and the head noun of every placeholder appear (up to synonyms).
    """
    template, placeholders = _label_parts(label)
    table = _synonym_table(synonyms)
    words = set(normalize_words(description))

    def present(word: str) -> bool:
        return bool(table.get(word, {word}) & words)

    template_words = normalize_words(re.sub(r"\[[^\]]*\]", " ", template))
    if not template_words:
        raise ValueError(f"label template {template!r} has no verb")
    required = [template_words[0]]
    for placeholder in placeholders:
        content = [w for w in normalize_words(placeholder) if w not in _ARTICLES]
        if content:
            required.append(content[-1])
    return all(present(word) for word in required)


def action_hits(
    descriptions: Sequence[str], labels: Sequence[Any], *, synonyms: Mapping[str, Sequence[str]] | None = None
) -> torch.Tensor:
    """Per-clip action mention, ``(n,)`` float of 0.0 / 1.0 (see :func:`mentions_action`)."""
    if isinstance(descriptions, str):
        raise TypeError("descriptions must be a sequence of strings, got a single string")
    if len(descriptions) != len(labels):
        raise ValueError(f"descriptions and labels must pair up, got {len(descriptions)} and {len(labels)}")
    if len(descriptions) == 0:
        raise ValueError("descriptions is empty")
    return torch.tensor(
        [float(mentions_action(d, label, synonyms=synonyms)) for d, label in zip(descriptions, labels, strict=True)]
    )


def action_recall(
    descriptions: Sequence[str], labels: Sequence[Any], *, synonyms: Mapping[str, Sequence[str]] | None = None
) -> float:
    """Fraction of clips whose description mentions the ground-truth action, in ``[0, 1]``."""
    return float(action_hits(descriptions, labels, synonyms=synonyms).mean())
