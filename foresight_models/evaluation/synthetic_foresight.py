"""Measure foresight on ``SyntheticMotion``, where the future is known exactly.

The research's final experiment ("video predicts, VLM describes", ``docs/research.md``) in miniature.
Clips come as :class:`~foresight_models.data.ForesightClips` of ``SyntheticMotion``: context images, the
true ``video`` that continues them (``video[0]`` is the last context image), every object's box in
every frame, its name (hence its flat colour) and the clip's action. A predictor returns a video of
the same shape; for every future frame (horizon ``h = 1 .. t - 1``) we measure:

- **centre error**: each object is located in the predicted frame by its colour
  (:func:`locate_objects`) and compared with its true centre (from ``video_boxes``), in pixels
  (Euclidean). An object not found in a predicted frame counts as the frame's diagonal (the largest
  error possible) and is counted in ``missing``; it is never dropped. A clip's error at a horizon is
  the mean over its objects.
- the same for two baselines: ``copy`` (:class:`~foresight_models.models.heads.CopyLastFrame`: the last
  context frame at every horizon, its objects located the same way) and ``extrapolation``
  (:class:`~foresight_models.models.heads.LinearExtrapolation` applied to the objects' true centres in
  the last two context frames, its velocity scaled by the frames between them: a tracker that knows the
  context positions exactly and assumes constant velocity; it never misses and may leave the frame).
- **PSNR** and **SSIM** per horizon of the prediction and of ``copy`` against the true frame.
- **action recall** (with ``describe``): :func:`action_from_text` of the description of the real video
  and of the predicted one equals the clip's action; of the motion prompt too, when the predictor
  reports it.

Example::

    >>> from foresight_models.data import ForesightClips, SyntheticMotion
    >>> from foresight_models.evaluation import evaluate_synthetic_foresight
    >>> clips = ForesightClips(SyntheticMotion(4, frames=12, size=32, seed=1000), context_indices=(0, 3), num_frames=9)
    >>> result = evaluate_synthetic_foresight(lambda context, item: item["video"], clips)  # an oracle
    >>> result.summary()["centre_error"]["prediction"][-1]
    0.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import check_int, check_real
from ..inputs import frames_to_float, to_pil_images
from .statistics import compare

__all__ = [
    "PREDICTORS",
    "PROMPT_SOURCES",
    "SyntheticForesightResult",
    "action_from_text",
    "box_centres",
    "evaluate_synthetic_foresight",
    "locate_objects",
    "pipeline_predictor",
]

#: The predictors every result scores: the model's prediction and the two baselines.
PREDICTORS = ("prediction", "copy", "extrapolation")

# -- locating objects ---------------------------------------------------------------------------------


def locate_objects(
    frames: torch.Tensor,
    colours: Sequence[Sequence[float]],
    *,
    tolerance: float = 60.0,
    min_pixels: int | Sequence[int] = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Locate flat-coloured objects in frames: the centroid of the largest region of each object's colour.

    A pixel has object ``j``'s colour when ``colours[j]`` is the nearest of ``colours`` to it and lies within
    ``tolerance`` (Euclidean distance in RGB, 0..255 units); nearest-colour assignment keeps two objects of
    similar colours apart, and the background, far from every ``SyntheticMotion`` colour, belongs to none.
    The object is the largest 8-connected region of such pixels, so stray pixels of its colour elsewhere
    (noise in a generated frame) do not move its centre.

    Args:
        frames: ``(t, 3, h, w)``, uint8 in ``[0, 255]`` or float in ``[0, 1]``.
        colours: ``k`` distinct RGB colours in ``[0, 255]`` (e.g. :func:`foresight_models.data.object_colour` of
            each name).
        tolerance: largest RGB distance of a pixel to its object's colour (> 0).
        min_pixels: an object whose largest region has fewer pixels is not found (>= 1; one int for all
            objects or ``k`` ints).

    Returns:
        ``(centres, found)``: ``centres`` float32 ``(t, k, 2)`` as ``(x, y)`` pixel coordinates (pixel ``(i, j)``
        is at ``x = j, y = i``), ``nan`` where not found; ``found`` bool ``(t, k)``.
    """
    try:
        from scipy import ndimage
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("locate_objects needs scipy: pip install 'foresight_models[eval]'") from error
    frames = _check_frames(frames, "frames")
    tolerance = check_real(tolerance, "tolerance", minimum=0.0, min_inclusive=False)
    palette = _check_colours(colours)
    k = palette.shape[0]
    if isinstance(min_pixels, Sequence) and not isinstance(min_pixels, (str, bytes)):
        if len(min_pixels) != k:
            raise ValueError(f"min_pixels: expected one int or {k} ints (one per colour), got {len(min_pixels)}")
        thresholds = [check_int(m, f"min_pixels[{j}]") for j, m in enumerate(min_pixels)]
    else:
        thresholds = [check_int(min_pixels, "min_pixels")] * k
    t = frames.shape[0]
    pixels = (frames * 255.0).permute(0, 2, 3, 1).unsqueeze(-2)  # t h w 1 c
    distance = (pixels - palette.to(pixels.device).view(1, 1, 1, k, 3)).square().sum(dim=-1)  # t h w k, squared
    nearest = distance.argmin(dim=-1, keepdim=True)
    labels = torch.arange(k, device=pixels.device).view(1, 1, 1, k)
    members = ((distance <= tolerance**2) & (labels == nearest)).cpu().numpy()
    centres = torch.full((t, k, 2), float("nan"))
    found = torch.zeros(t, k, dtype=torch.bool)
    connectivity = np.ones((3, 3), dtype=bool)
    for f in range(t):
        for j in range(k):
            labels, count = ndimage.label(members[f, :, :, j], structure=connectivity)
            if count == 0:
                continue
            sizes = np.bincount(labels.ravel())[1:]
            largest = int(sizes.argmax())
            if sizes[largest] < thresholds[j]:
                continue
            ys, xs = np.nonzero(labels == largest + 1)
            centres[f, j] = torch.tensor([xs.mean(), ys.mean()], dtype=torch.float32)
            found[f, j] = True
    return centres, found


def box_centres(boxes: torch.Tensor) -> torch.Tensor:
    """Centres ``(..., 2)`` as ``(x, y)`` of boxes ``(..., 4)`` ``(x0, y0, x1, y1)`` with exclusive ``x1``/``y1``.

    The centre of the pixels ``x0 .. x1 - 1`` is ``(x0 + x1 - 1) / 2``.
    """
    if not isinstance(boxes, torch.Tensor) or boxes.ndim < 1 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"boxes: expected a tensor (..., 4) of (x0, y0, x1, y1), got {shape}")
    boxes = boxes.float()
    return torch.stack([(boxes[..., 0] + boxes[..., 2] - 1) / 2, (boxes[..., 1] + boxes[..., 3] - 1) / 2], dim=-1)


def _check_frames(frames: Any, name: str) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    frames = frames_to_float(frames, name=name).detach()
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"{name}: expected frames (t, 3, h, w), got shape {tuple(frames.shape)}")
    if frames.numel() and (not torch.isfinite(frames).all() or frames.min() < 0 or frames.max() > 1):
        raise ValueError(f"{name}: float frames must lie in [0, 1] without NaN")
    return frames


def _check_colours(colours: Any) -> torch.Tensor:
    if isinstance(colours, (str, bytes)) or not isinstance(colours, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"colours: expected a sequence of (r, g, b) colours, got {type(colours).__name__}")
    palette = torch.as_tensor(np.asarray(colours, dtype=np.float32))
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.shape[0] == 0:
        raise ValueError(f"colours: expected k >= 1 (r, g, b) colours, got shape {tuple(palette.shape)}")
    if not torch.isfinite(palette).all() or palette.min() < 0 or palette.max() > 255:
        raise ValueError(f"colours: expected values in [0, 255], got {palette.tolist()}")
    return palette


# -- reading the action from a sentence ---------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _template_pattern(template: str) -> re.Pattern[str]:
    """An SSv2 template as a pattern over normalised text: each ``[something]`` is one or more words."""
    sentinel = "placeholderword"
    words = _normalise(re.sub(r"\[something\]", sentinel, template, flags=re.IGNORECASE))
    body = re.escape(words).replace(sentinel, r"\S+(?: \S+)*?")
    return re.compile(rf"(?:^| ){body}(?: |$)")


def _action_patterns() -> dict[str, re.Pattern[str]]:
    from ..data.synthetic import ACTIONS

    return {action: _template_pattern(template) for action, template in ACTIONS.items()}


def action_from_text(text: str) -> str | None:
    """The ``SyntheticMotion`` action (a key of :data:`foresight_models.data.ACTIONS`) that ``text`` states.

    ``text`` states an action when it contains that action's filled SSv2 template (e.g. ``"moving red
    circle from left to right"`` for ``"Moving [something] from left to right"``), ignoring case,
    punctuation and words around it; each ``[something]`` stands for one or more words.

    Returns:
        the action, or ``None`` when ``text`` states none, or more than one (ambiguous).

    Raises:
        TypeError: ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    normalised = _normalise(text)
    matches = [action for action, pattern in _action_patterns().items() if pattern.search(normalised)]
    return matches[0] if len(matches) == 1 else None


# -- the evaluation -----------------------------------------------------------------------------------


@dataclass
class SyntheticForesightResult:
    """Per-clip measurements of :func:`evaluate_synthetic_foresight`; :meth:`summary` aggregates them.

    Attributes:
        horizons: ``[1, ..., t - 1]``, the future frames measured (column ``j`` of every array is horizon ``j + 1``).
        centre_error: predictor (:data:`PREDICTORS`) -> float ``(n, H)`` mean centre error over the clip's
            objects, in pixels.
        missing: ``"prediction"``, ``"copy"`` -> int ``(n, H)`` objects not found (each counted with the diagonal).
        psnr: ``"prediction"``, ``"copy"`` -> float ``(n, H)`` PSNR in dB (capped at 100 dB).
        ssim: ``"prediction"``, ``"copy"`` -> float ``(n, H)``.
        actions: the true action of each clip.
        objects: the number of objects of each clip.
        diagonal: the frame diagonal in pixels (a missing object's error).
        real_descriptions, generated_descriptions: the descriptions (with ``describe`` / a predictor that
            returns them), else ``None``.
        prompts: the motion prompts a predictor reported, else ``None``.
        placeholders: the objects each clip's label names (``SyntheticMotion``'s ``placeholders``).
        templates: each clip's SSv2 template (for :func:`foresight_models.metrics.mentions_action`).
        ids: each clip's ``id``.
    """

    horizons: list[int]
    centre_error: dict[str, np.ndarray]
    missing: dict[str, np.ndarray]
    psnr: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]
    actions: list[str]
    objects: list[int]
    diagonal: float
    real_descriptions: list[str] | None = None
    generated_descriptions: list[str] | None = None
    prompts: list[str] | None = None
    placeholders: list[list[str]] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    @property
    def num_clips(self) -> int:
        return len(self.actions)

    def recalled(self, texts: list[str] | None, *, with_objects: bool = False) -> list[bool] | None:
        """Per clip: ``texts[i]`` states the clip's action (:func:`action_from_text`) and, with ``with_objects``,
        names every object of its label too (the SSv2 action: verb and objects)."""
        if texts is None:
            return None
        hits = [action_from_text(text) == action for text, action in zip(texts, self.actions)]
        if with_objects:
            names = self.placeholders or [[] for _ in self.actions]
            hits = [hit and all(_names(text, p) for p in objects) for hit, text, objects in zip(hits, texts, names)]
        return hits

    def mention_recall(self, texts: list[str] | None) -> float | None:
        """Fraction of clips whose ``texts[i]`` mentions the label's verb and objects
        (:func:`foresight_models.metrics.mentions_action`, the looser measure of the research, which cannot
        tell directions apart); ``None`` without texts or templates."""
        from ..metrics.text import mentions_action

        if texts is None or len(self.templates) != len(texts):
            return None
        names = self.placeholders or [[] for _ in texts]
        labels = [{"template": t, "placeholders": p} for t, p in zip(self.templates, names)]
        return float(np.mean([mentions_action(text, label) for text, label in zip(texts, labels)]))

    def recall(self, texts: list[str] | None, *, with_objects: bool = False) -> float | None:
        """Fraction of clips whose ``texts[i]`` states the clip's action (see :meth:`recalled`); ``None`` without texts."""
        hits = self.recalled(texts, with_objects=with_objects)
        return None if hits is None else float(np.mean(hits))

    def comparison(self, a: str = "prediction", b: str = "copy", *, horizon: int | None = None) -> dict[str, Any] | None:
        """Paired comparison (:func:`~foresight_models.evaluation.compare`) of the centre errors of ``a`` and ``b``
        at ``horizon`` (default: the last), as a dict with ``ratio`` (mean ``a`` / mean ``b``) added;
        ``None`` with fewer than 2 clips."""
        column = self.horizons.index(self.horizons[-1] if horizon is None else horizon)
        if self.num_clips < 2 or a not in self.centre_error or b not in self.centre_error:
            return None
        x, y = self.centre_error[a][:, column], self.centre_error[b][:, column]
        result = compare(x, y).to_dict()
        result["ratio"] = float(x.mean() / y.mean()) if y.mean() > 0 else None
        result["horizon"] = self.horizons[column]
        return result

    def summary(self) -> dict[str, Any]:
        """Means per horizon, the last-frame comparisons and the recalls (JSON-serialisable).

        Keys: ``num_clips``, ``horizons``, ``diagonal``; ``centre_error`` / ``missing_fraction`` / ``psnr`` /
        ``ssim``: predictor -> list of per-horizon means (``missing_fraction``: objects not found over objects);
        ``last_frame``: ``prediction_vs_copy`` and ``prediction_vs_extrapolation`` comparisons of the centre
        error at the last horizon (``None`` with fewer than 2 clips); ``action_recall``: ``real``,
        ``generated``, ``prompt`` (``None`` where not measured); ``action_and_objects_recall``: the same, counting
        a text only when it also names the label's objects; ``mention_recall``: the same texts scored by
        :func:`foresight_models.metrics.mentions_action` (verb and objects, any direction); ``per_action``: action -> clips, mean last-frame
        centre error of each predictor and the action recall of the real and generated descriptions.
        """
        objects = np.asarray(self.objects, dtype=np.float64)[:, None]
        last = len(self.horizons) - 1
        per_action: dict[str, Any] = {}
        for action in sorted(set(self.actions)):
            rows = [i for i, a in enumerate(self.actions) if a == action]
            per_action[action] = {
                "clips": len(rows),
                **{name: float(errors[rows, last].mean()) for name, errors in self.centre_error.items()},
            }
            for key, texts in (("recall_real", self.real_descriptions), ("recall_generated", self.generated_descriptions)):
                hits = self.recalled(texts)
                per_action[action][key] = None if hits is None else float(np.mean([hits[i] for i in rows]))
        return {
            "num_clips": self.num_clips,
            "horizons": list(self.horizons),
            "diagonal": self.diagonal,
            "centre_error": {name: _means(values) for name, values in self.centre_error.items()},
            "missing_fraction": {name: _means(values / objects) for name, values in self.missing.items()},
            "psnr": {name: _means(values) for name, values in self.psnr.items()},
            "ssim": {name: _means(values) for name, values in self.ssim.items()},
            "last_frame": {
                "prediction_vs_copy": self.comparison("prediction", "copy"),
                "prediction_vs_extrapolation": self.comparison("prediction", "extrapolation"),
            },
            "action_recall": {
                "real": self.recall(self.real_descriptions),
                "generated": self.recall(self.generated_descriptions),
                "prompt": self.recall(self.prompts),
            },
            "action_and_objects_recall": {
                "real": self.recall(self.real_descriptions, with_objects=True),
                "generated": self.recall(self.generated_descriptions, with_objects=True),
                "prompt": self.recall(self.prompts, with_objects=True),
            },
            "mention_recall": {
                "real": self.mention_recall(self.real_descriptions),
                "generated": self.mention_recall(self.generated_descriptions),
                "prompt": self.mention_recall(self.prompts),
            },
            "per_action": per_action,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, per clip and summarised, as JSON-serialisable data (:meth:`from_dict` reads it back)."""
        return {
            "horizons": list(self.horizons),
            "centre_error": {k: v.tolist() for k, v in self.centre_error.items()},
            "missing": {k: v.tolist() for k, v in self.missing.items()},
            "psnr": {k: v.tolist() for k, v in self.psnr.items()},
            "ssim": {k: v.tolist() for k, v in self.ssim.items()},
            "actions": list(self.actions),
            "objects": list(self.objects),
            "diagonal": self.diagonal,
            "real_descriptions": self.real_descriptions,
            "generated_descriptions": self.generated_descriptions,
            "prompts": self.prompts,
            "placeholders": [list(p) for p in self.placeholders],
            "templates": list(self.templates),
            "ids": list(self.ids),
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticForesightResult:
        def arrays(key: str, dtype: Any) -> dict[str, np.ndarray]:
            return {k: np.asarray(v, dtype=dtype) for k, v in data[key].items()}

        return cls(
            horizons=list(data["horizons"]),
            centre_error=arrays("centre_error", np.float64),
            missing=arrays("missing", np.int64),
            psnr=arrays("psnr", np.float64),
            ssim=arrays("ssim", np.float64),
            actions=list(data["actions"]),
            objects=list(data["objects"]),
            diagonal=float(data["diagonal"]),
            real_descriptions=data.get("real_descriptions"),
            generated_descriptions=data.get("generated_descriptions"),
            prompts=data.get("prompts"),
            placeholders=[list(p) for p in data.get("placeholders", [])],
            templates=list(data.get("templates", [])),
            ids=list(data.get("ids", [])),
        )


def _names(text: str, name: str) -> bool:
    """``text`` names the object ``name`` (whole words, ignoring case and punctuation)."""
    return f" {_normalise(name)} " in f" {_normalise(text)} "


def _means(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).mean(axis=0)]


def _centre_errors(
    centres: torch.Tensor, found: torch.Tensor, truth: torch.Tensor, diagonal: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean over objects of the centre error ``(t,)`` (missing -> diagonal) and missing counts ``(t,)``."""
    centres, found = centres.cpu(), found.cpu()
    error = (centres - truth).norm(dim=-1)
    error = torch.where(found, error, torch.full_like(error, diagonal))
    return error.mean(dim=-1).double().numpy(), (~found).sum(dim=-1).numpy()


def _frame_gap(clips: Any, frame_gap: int | None) -> int | None:
    if frame_gap is not None:
        return check_int(frame_gap, "frame_gap")
    indices = getattr(clips, "context_indices", None)
    if indices is not None and len(indices) >= 2:
        return int(indices[-1]) - int(indices[-2])
    return None


def _min_pixels(item: Mapping[str, Any], min_area: float) -> list[int]:
    """Per object: ``min_area`` of its pixels in video frame 0 (from ``video_masks``, else its box)."""
    if isinstance(item.get("video_masks"), torch.Tensor):
        area = item["video_masks"][0].flatten(1).sum(dim=1).double()
    else:
        box = item["video_boxes"][0].double()
        area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return [max(1, math.ceil(min_area * float(a))) for a in area]


def _extrapolated_centres(
    extrapolate: Callable[..., torch.Tensor], context_boxes: torch.Tensor, gap: int, horizons: list[int]
) -> torch.Tensor:
    """``LinearExtrapolation`` of the true centres in the last two context frames, ``gap`` frames apart:
    centres ``(H, k, 2)`` at ``horizons`` frames after the last one, ``last + h * (last - previous) / gap``."""
    previous, last = box_centres(context_boxes)[-2:]  # k 2 each
    one_frame_apart = torch.stack([last - (last - previous) / gap, last]).unsqueeze(0)  # 1 2 k 2
    return torch.cat([extrapolate(one_frame_apart, horizon=h) for h in horizons])


def _prediction_output(output: Any, index: int) -> tuple[Any, str | None, str | None]:
    if isinstance(output, Mapping):
        if "video" not in output:
            raise ValueError(f"predict returned a mapping without 'video' for clip {index}; it has keys {sorted(output)}")
        return output["video"], output.get("description"), output.get("prompt")
    return output, None, None


def evaluate_synthetic_foresight(
    predict: Callable[[list, dict[str, Any]], Any],
    clips: Any,
    *,
    describe: Callable[[torch.Tensor], str] | None = None,
    tolerance: float = 60.0,
    min_area: float = 0.25,
    frame_gap: int | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticForesightResult:
    """Score a video predictor and the baselines on ``SyntheticMotion`` clips, per clip and horizon.

    Args:
        predict: ``predict(context_images, item) -> video``: ``context_images`` the context as RGB PIL images,
            ``item`` the clip (its ``label``, ``action``...: a predictor may use them, e.g. the label as prompt);
            ``video`` ``(t, 3, h, w)`` uint8 or float in ``[0, 1]``, shaped as ``item["video"]`` (frame 0 is the
            last context image). It may instead return a mapping ``{"video": ..., "description": str,
            "prompt": str}`` (a pipeline's own description of its clip and its motion prompt;
            :func:`pipeline_predictor` does).
        clips: a sized iterable of items as :class:`~foresight_models.data.ForesightClips` of
            ``SyntheticMotion`` gives them (``context``, ``video``, ``video_boxes``, ``context_boxes``,
            ``object_names``, ``action``).
        describe: ``describe(video (t, 3, h, w)) -> str`` (e.g. ``pipe.describe``): describes the real video
            (uint8) and the predicted one (as ``predict`` returned it) unless ``predict`` returned its description.
        tolerance: colour tolerance of :func:`locate_objects`.
        min_area: an object is found in a frame when its largest region of its colour covers at least this
            fraction of its true area (its pixels in the last context frame); in ``(0, 1]``.
        frame_gap: frames between the last two context images, for the ``extrapolation`` baseline; default
            from ``clips.context_indices``. Without it (or with one context image) the baseline is left out.
        device: where frames are compared (PSNR, SSIM, colour distances); a GPU makes long runs faster.
        progress: called as ``progress(done, total)`` after each clip.

    Returns:
        :class:`SyntheticForesightResult`.
    """
    from ..data.synthetic import object_colour
    from ..metrics.image import psnr, ssim
    from ..models.heads import CopyLastFrame, LinearExtrapolation

    if not callable(predict):
        raise TypeError(f"predict: expected a callable predict(context_images, item) -> video, got {type(predict).__name__}")
    if describe is not None and not callable(describe):
        raise TypeError(f"describe: expected None or a callable describe(video) -> str, got {type(describe).__name__}")
    gap = _frame_gap(clips, frame_gap)
    min_area = check_real(min_area, "min_area", minimum=0.0, maximum=1.0, min_inclusive=False)
    total = len(clips)
    if total == 0:
        raise ValueError("clips: expected at least one clip, got an empty dataset")
    copy, extrapolate = CopyLastFrame(), LinearExtrapolation()
    rows: dict[str, list[np.ndarray]] = {}
    actions, objects, ids = [], [], []
    placeholders: list[list[str]] = []
    templates: list[str] = []
    real_texts: list[str] = []
    generated_texts: list[str] = []
    prompts: list[str] = []
    horizons: list[int] | None = None
    diagonal = 0.0
    for index, item in enumerate(clips):
        for key in ("context", "video", "video_boxes", "object_names", "action"):
            if key not in item:
                raise KeyError(f"clips[{index}]: expected ForesightClips items of SyntheticMotion with {key!r}")
        truth = frames_to_float(item["video"], name=f"clips[{index}]['video']").to(device)
        context = frames_to_float(item["context"], name=f"clips[{index}]['context']").to(device)
        t, _, h, w = truth.shape
        if horizons is None:
            horizons, diagonal = list(range(1, t)), math.hypot(h, w)
        elif t - 1 != len(horizons):
            raise ValueError(f"clips[{index}]: expected {len(horizons) + 1} video frames like the first clip, got {t}")
        colours = [object_colour(name) for name in item["object_names"]]
        centres_true = box_centres(item["video_boxes"])[1:]  # H k 2
        min_pixels = _min_pixels(item, min_area)

        video, description, prompt = _prediction_output(predict(to_pil_images(context), item), index)
        if isinstance(video, np.ndarray):
            video = torch.from_numpy(video)
        if not isinstance(video, torch.Tensor) or tuple(video.shape) != tuple(truth.shape):
            got = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise ValueError(f"predict returned {got} for clip {index}, expected a video of shape {tuple(truth.shape)}")
        predicted = _check_frames(video, f"predict(...) for clip {index}")[1:].to(device)
        copied = copy(context.unsqueeze(0)).expand(t - 1, -1, -1, -1)

        measured: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, frames in (("prediction", predicted), ("copy", copied)):
            centres, found = locate_objects(frames, colours, tolerance=tolerance, min_pixels=min_pixels)
            measured[name] = _centre_errors(centres, found, centres_true, diagonal)
            rows.setdefault(f"psnr/{name}", []).append(psnr(frames, truth[1:], max_db=100.0).double().cpu().numpy())
            rows.setdefault(f"ssim/{name}", []).append(ssim(frames, truth[1:]).double().cpu().numpy())
        if gap is not None and "context_boxes" in item:
            predicted_centres = _extrapolated_centres(extrapolate, item["context_boxes"], gap, horizons)
            found = torch.ones(predicted_centres.shape[:2], dtype=torch.bool)
            measured["extrapolation"] = _centre_errors(predicted_centres, found, centres_true, diagonal)
        for name, (error, missing) in measured.items():
            rows.setdefault(f"error/{name}", []).append(error)
            rows.setdefault(f"missing/{name}", []).append(missing)

        if describe is not None:
            real_texts.append(_text(describe(item["video"]), "describe"))
            if description is None:
                description = describe(video)
        if description is not None:
            generated_texts.append(_text(description, "the predicted video's description"))
        if prompt is not None:
            prompts.append(_text(prompt, "the motion prompt"))
        actions.append(str(item["action"]))
        objects.append(len(colours))
        ids.append(str(item.get("id", index)))
        placeholders.append([str(p) for p in item.get("placeholders", [])])
        templates.append(str(item.get("template", "")))
        if progress is not None:
            progress(index + 1, total)

    def stacked(prefix: str, dtype: Any) -> dict[str, np.ndarray]:
        return {
            key.split("/", 1)[1]: np.stack(values).astype(dtype)
            for key, values in rows.items()
            if key.startswith(prefix + "/") and len(values) == len(actions)
        }

    return SyntheticForesightResult(
        horizons=horizons or [],
        centre_error=stacked("error", np.float64),
        missing={k: v for k, v in stacked("missing", np.int64).items() if k != "extrapolation"},
        psnr=stacked("psnr", np.float64),
        ssim=stacked("ssim", np.float64),
        actions=actions,
        objects=objects,
        diagonal=diagonal,
        real_descriptions=real_texts if describe is not None else None,
        generated_descriptions=generated_texts if len(generated_texts) == len(actions) else None,
        prompts=prompts if len(prompts) == len(actions) else None,
        placeholders=placeholders,
        templates=templates if all(templates) else [],
        ids=ids,
    )


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a str, got {type(value).__name__}")
    return value


# -- a ForesightPipeline as the predictor -------------------------------------------------------------

#: How :func:`pipeline_predictor` prompts the video model.
PROMPT_SOURCES = ("vlm", "label", "empty")


def pipeline_predictor(
    pipe: Any,
    *,
    prompt: str = "vlm",
    num_inference_steps: int = 8,
    guidance_scale: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 128,
    describe: bool = True,
    **call_arguments: Any,
) -> Callable[[list, dict[str, Any]], dict[str, Any]]:
    """A ``predict`` for :func:`evaluate_synthetic_foresight` that calls a ``ForesightPipeline``.

    Each clip is one call ``pipe(context_images, prompt=..., height=h, width=w, num_frames=t, ...,
    seed=seed + clip index, output_type="pt")`` at the size of the clip's ``video``.

    Args:
        pipe: a ``ForesightPipeline``.
        prompt: ``"vlm"`` (the VLM writes the motion prompt from the context), ``"label"`` (the clip's true
            label) or ``"empty"`` (``""``).
        num_inference_steps, guidance_scale: the video model's sampling.
        seed: the noise of clip ``i`` is seeded with ``seed + i``.
        max_new_tokens: VLM tokens per answer (motion prompt and description).
        describe: report the pipeline's own description of its clip. With ``False`` the description is
            generated with a single token and not reported (the pipeline always describes).
        call_arguments: further arguments of the call (``frame_rate``, ``decode_timestep``...).

    Returns:
        ``predict(context_images, item) -> {"video", "prompt", "description"}``.
    """
    if prompt not in PROMPT_SOURCES:
        raise ValueError(f"prompt: expected one of {list(PROMPT_SOURCES)}, got {prompt!r}")
    seed = check_int(seed, "seed", minimum=0)
    counter = {"index": 0}

    def predict(context_images: list, item: dict[str, Any]) -> dict[str, Any]:
        t, _, h, w = item["video"].shape
        text = {"vlm": None, "label": item.get("label"), "empty": ""}[prompt]
        if prompt == "label" and not isinstance(text, str):
            raise KeyError("prompt='label' needs items with a str 'label'")
        with torch.inference_mode():
            out = pipe(
                context_images,
                prompt=text,
                height=h,
                width=w,
                num_frames=t,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                seed=seed + counter["index"],
                output_type="pt",
                max_new_tokens=max_new_tokens if describe or prompt == "vlm" else 1,
                **call_arguments,
            )
        counter["index"] += 1
        result: dict[str, Any] = {"video": out.frames[0].float(), "prompt": out.prompt}
        if describe and out.description is not None:
            result["description"] = out.description[0]
        return result

    return predict
