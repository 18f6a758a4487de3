"""Spatial metrics: box and mask IoU, one-to-one object matching, and box average precision.

Boxes are ``(..., 4)`` as ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1`` (any unit, usually
normalised to ``[0, 1]``). Masks are boolean ``(n, h, w)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from .._validation import check_choice, check_real

__all__ = ["box_average_precision", "box_iou", "mask_iou", "match_objects", "matched_iou"]


def _check_boxes(name: str, boxes: torch.Tensor) -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, 4), got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    boxes = boxes.float() if not boxes.is_floating_point() else boxes
    if boxes.numel() and not bool(torch.isfinite(boxes).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if bool((boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any()):
        raise ValueError(f"{name} must satisfy x0 <= x1 and y0 <= y1 (format x0, y0, x1, y1)")
    return boxes


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of two sets of boxes.

    Args:
        boxes_a: ``(n, 4)`` as ``(x0, y0, x1, y1)``.
        boxes_b: ``(m, 4)``.

    Returns:
        ``(n, m)`` in ``[0, 1]``; two empty (zero-area) boxes have IoU 0.
    """
    a, b = _check_boxes("boxes_a", boxes_a), _check_boxes("boxes_b", boxes_b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    intersection = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - intersection
    return torch.where(union > 0, intersection / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def _check_masks(name: str, masks: torch.Tensor) -> torch.Tensor:
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, h, w), got {type(masks).__name__}")
    if masks.ndim != 3:
        raise ValueError(f"{name} must have shape (n, h, w), got {tuple(masks.shape)}")
    if masks.dtype != torch.bool:
        if not bool(((masks == 0) | (masks == 1)).all()):
            raise ValueError(f"{name} must be boolean or contain only 0 and 1 (threshold soft masks first)")
        masks = masks.bool()
    return masks


def mask_iou(masks_a: torch.Tensor, masks_b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of two sets of binary masks.

    Args:
        masks_a: ``(n, h, w)`` bool (or 0/1).
        masks_b: ``(m, h, w)`` on the same grid.

    Returns:
        ``(n, m)`` in ``[0, 1]``; two empty masks have IoU 0.
    """
    a, b = _check_masks("masks_a", masks_a), _check_masks("masks_b", masks_b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"masks_a and masks_b must share the grid (h, w), got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}"
        )
    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    intersection = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1), 0.0).float()


def match_objects(iou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One-to-one matching maximising total IoU (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).

    Args:
        iou: ``(n_pred, n_target)`` IoU matrix.

    Returns:
        ``(pred_index, target_index)``, each ``(min(n_pred, n_target),)`` long.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("object matching needs scipy: pip install 'foresight_models[eval]'") from error
    if not isinstance(iou, torch.Tensor) or iou.ndim != 2:
        raise ValueError(f"iou must be a (n_pred, n_target) tensor, got {getattr(iou, 'shape', type(iou).__name__)}")
    rows, cols = linear_sum_assignment(iou.detach().cpu().double().numpy(), maximize=True)
    return (
        torch.as_tensor(rows, dtype=torch.long, device=iou.device),
        torch.as_tensor(cols, dtype=torch.long, device=iou.device),
    )


def matched_iou(
    prediction: torch.Tensor, target: torch.Tensor, *, kind: Literal["box", "mask"] = "box"
) -> torch.Tensor:
    """IoU of every target object with the prediction matched to it one-to-one.

    Args:
        prediction: predicted boxes ``(n, 4)`` or masks ``(n, h, w)``.
        target: real boxes ``(m, 4)`` or masks ``(m, h, w)``.
        kind: ``"box"`` or ``"mask"``.

    Returns:
        ``(m,)`` in ``[0, 1]``: per target object, the IoU of its matched prediction, 0 when no prediction
        is left for it (fewer predictions than objects). Average it for the mean per-object IoU.
    """
    if check_choice(kind, "kind", ("box", "mask")) == "box":
        iou = box_iou(prediction, target)
    else:
        iou = mask_iou(prediction, target)
    scores = torch.zeros(iou.shape[1], device=iou.device)
    if iou.numel():
        rows, cols = match_objects(iou)
        scores[cols] = iou[rows, cols].float()
    return scores


def box_average_precision(
    predictions: Sequence[torch.Tensor],
    scores: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    *,
    iou_threshold: float = 0.5,
) -> torch.Tensor:
    """Average precision of class-agnostic box detections over a set of images (mAP@``iou_threshold``).

    Detections of all images are ranked by score; each is a true positive when its IoU with a not yet
    claimed ground-truth box of its image reaches ``iou_threshold`` (greedy, highest IoU first, as in
    PASCAL VOC / COCO). AP is the area under the interpolated precision-recall curve (all points).

    Args:
        predictions: per image, boxes ``(k_i, 4)``.
        scores: per image, confidences ``(k_i,)``.
        targets: per image, ground-truth boxes ``(m_i, 4)``.
        iou_threshold: in ``(0, 1]``.

    Returns:
        0-d tensor in ``[0, 1]``.
    """
    if not (len(predictions) == len(scores) == len(targets)):
        raise ValueError(
            f"predictions, scores and targets must have one entry per image, got {len(predictions)}, "
            f"{len(scores)} and {len(targets)}"
        )
    check_real(iou_threshold, "iou_threshold", minimum=0.0, maximum=1.0, min_inclusive=False)
    total = sum(int(_check_boxes(f"targets[{i}]", t).shape[0]) for i, t in enumerate(targets))
    if total == 0:
        raise ValueError("box_average_precision needs at least one ground-truth box")
    records: list[tuple[float, bool]] = []
    for i, (boxes, confidence, truth) in enumerate(zip(predictions, scores, targets, strict=True)):
        boxes = _check_boxes(f"predictions[{i}]", boxes)
        if not isinstance(confidence, torch.Tensor) or confidence.shape != boxes.shape[:1]:
            raise ValueError(f"scores[{i}] must be a tensor of shape ({boxes.shape[0]},)")
        iou = box_iou(boxes, truth)
        claimed = torch.zeros(iou.shape[1], dtype=torch.bool, device=iou.device)
        for j in torch.argsort(confidence, descending=True, stable=True).tolist():
            hit = False
            if truth.shape[0]:
                candidates = iou[j].masked_fill(claimed, -1.0)
                best = int(candidates.argmax())
                if candidates[best] >= iou_threshold:
                    claimed[best] = True
                    hit = True
            records.append((float(confidence[j]), hit))
    if not records:
        return torch.tensor(0.0)
    records.sort(key=lambda r: -r[0])
    hits = torch.tensor([r[1] for r in records], dtype=torch.float64)
    tp = hits.cumsum(0)
    precision = tp / torch.arange(1, len(records) + 1, dtype=torch.float64)
    recall = tp / total
    # interpolate: precision at recall r is the best precision at any recall >= r
    precision = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    recall_steps = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return (precision * recall_steps).sum().float()
