"""Probes that measure what frozen features contain.

- :class:`SpatialProbe`: a small DETR-style box head trained on frozen tokens with Hungarian matching;
  :func:`train_spatial_probe` fits it, :func:`evaluate_spatial_probe` reports matched box IoU and mAP@0.5.
- :func:`latent_alignment`: CKA, linear-probe R², RSA Spearman and neighbourhood recall@k between two
  encoders' features of the same inputs.

The values these probes gave in the study behind this package are in ``docs/research.md``.

Boxes are ``(x0, y0, x1, y1)`` normalised to ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin
from diffusers.configuration_utils import register_to_config
from einops import repeat
from torch import nn

from .._validation import check_int, check_probability, check_real
from ..metrics import (
    box_average_precision,
    linear_cka,
    linear_probe_r2,
    match_objects,
    matched_iou,
    rbf_cka,
    recall_at_k,
    rsa_spearman,
)
from ..metrics.checks import check_tensor
from ..models.layers import CrossAttentionBlock, SelfAttentionBlock
from ..models.modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = ["SpatialProbe", "evaluate_spatial_probe", "latent_alignment", "train_spatial_probe"]


class SpatialProbe(ForesightModelMixin, ConfigMixin):
    """DETR-style box head on frozen tokens: learned queries attend to the tokens and each predicts a box.

    Shapes: ``features (b, n, d_in)``, ``mask (b, n)`` -> ``boxes (b, q, 4)`` as ``(x0, y0, x1, y1)`` in
    ``[0, 1]`` and ``logits (b, q)`` (objectness, before sigmoid).

    Args:
        feature_dim: width ``d_in`` of the frozen tokens.
        num_queries: ``q``, the most objects one image can hold.
        dim: width of the queries.
        depth: decoder layers (self-attention among queries, then cross-attention to the tokens).
        heads, dim_head: attention heads.
    """

    @register_to_config
    def __init__(
        self,
        *,
        feature_dim: int,
        num_queries: int = 8,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        dim_head: int = 16,
    ):
        super().__init__()
        for name, value in (("feature_dim", feature_dim), ("num_queries", num_queries), ("dim", dim), ("depth", depth)):
            check_int(value, name, plain=True)
        self.project = nn.Linear(feature_dim, dim)
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.self_blocks = nn.ModuleList(
            [SelfAttentionBlock(dim, heads=heads, dim_head=dim_head, ff_mult=2.0) for _ in range(depth)]
        )
        self.cross_blocks = nn.ModuleList(
            [CrossAttentionBlock(dim, heads=heads, dim_head=dim_head, ff_mult=2.0) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        self.to_box = nn.Linear(dim, 4)
        self.to_logit = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("features", features, ndim=3)
        if features.shape[-1] != self.config.feature_dim:
            raise ValueError(f"features must have width {self.config.feature_dim}, got shape {tuple(features.shape)}")
        context = self.project(features)
        x = repeat(self.queries, "q d -> b q d", b=features.shape[0])
        for self_block, cross_block in zip(self.self_blocks, self.cross_blocks, strict=True):
            x = cross_block(self_block(x), context, context_mask=mask)
        x = self.norm(x)
        centre_size = self.to_box(x).sigmoid()  # (b, q, 4) as cx, cy, w, h
        centre, half = centre_size[..., :2], centre_size[..., 2:] / 2
        boxes = torch.cat([(centre - half).clamp(0, 1), (centre + half).clamp(0, 1)], dim=-1)
        return boxes, self.to_logit(x).squeeze(-1)


def _check_targets(boxes: Sequence[torch.Tensor], n: int) -> list[torch.Tensor]:
    if len(boxes) != n:
        raise ValueError(f"boxes must hold one (k, 4) tensor per sample: {n} samples, got {len(boxes)}")
    out = []
    for i, b in enumerate(boxes):
        b = check_tensor(f"boxes[{i}]", b, ndim=2, value_range=(0.0, 1.0)) if b.numel() else b.float().reshape(0, 4)
        if b.shape[-1] != 4:
            raise ValueError(f"boxes[{i}] must have shape (k, 4), got {tuple(b.shape)}")
        out.append(b)
    return out


def _pairwise_iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU ``(b, q, k)`` of boxes ``(b, q, 4)`` and ``(b, k, 4)`` (valid ``x0 <= x1`` boxes, differentiable)."""
    top_left = torch.maximum(pred[:, :, None, :2], truth[:, None, :, :2])
    bottom_right = torch.minimum(pred[:, :, None, 2:], truth[:, None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(-1)
    area_p = (pred[..., 2:] - pred[..., :2]).prod(-1)
    area_t = (truth[..., 2:] - truth[..., :2]).prod(-1)
    return intersection / (area_p[:, :, None] + area_t[:, None, :] - intersection).clamp(min=1e-8)


def _matching_loss(boxes: torch.Tensor, logits: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
    """Hungarian-matched L1 + (1 - IoU) box loss plus objectness BCE, averaged over the batch.

    ``boxes (b, q, 4)``, ``logits (b, q)``; ``targets`` per sample ``(k_i, 4)``, padded to ``(b, k, 4)`` here.
    """
    b, q = logits.shape
    k = max(max(t.shape[0] for t in targets), 1)
    truth = boxes.new_zeros(b, k, 4)
    for i, t in enumerate(targets):
        truth[i, : t.shape[0]] = t
    iou = _pairwise_iou(boxes, truth)  # (b, q, k)
    cost = (torch.cdist(boxes, truth, p=1) + (1 - iou) - logits.sigmoid()[..., None]).detach().cpu()
    sample, query, target = [], [], []
    for i, t in enumerate(targets):
        if t.shape[0]:
            rows, cols = match_objects(-cost[i, :, : t.shape[0]])
            sample += [i] * len(rows)
            query += rows.tolist()
            target += cols.tolist()
    si, qi, ti = (torch.tensor(v, dtype=torch.long, device=logits.device) for v in (sample, query, target))
    objectness = torch.zeros_like(logits)
    objectness[si, qi] = 1.0
    loss = F.binary_cross_entropy_with_logits(logits, objectness)
    if sample:
        matched = boxes[si, qi]
        loss = loss + (matched - truth[si, ti]).abs().sum(-1).mean() + (1 - iou[si, qi, ti]).mean()
    return loss


def train_spatial_probe(
    features: torch.Tensor,
    boxes: Sequence[torch.Tensor],
    *,
    steps: int = 300,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    probe: SpatialProbe | None = None,
    **probe_kwargs: int,
) -> SpatialProbe:
    """Fit a :class:`SpatialProbe` on frozen ``features (N, n, d)`` to ``boxes`` (per sample ``(k_i, 4)``).

    Seeded (initialisation and minibatch order). Returns the probe in eval mode.
    """
    features = check_tensor("features", features, ndim=3)
    targets = _check_targets(boxes, features.shape[0])
    steps = check_int(steps, "steps")
    lr = check_real(lr, "lr", minimum=0.0, min_inclusive=False)
    batch_size = check_int(batch_size, "batch_size")
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    if probe is None:
        most = max(t.shape[0] for t in targets)
        probe_kwargs.setdefault("num_queries", max(most, 1) + 2)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            probe = SpatialProbe(feature_dim=features.shape[-1], **probe_kwargs)
    probe.train()
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    n = features.shape[0]
    for _ in range(steps):
        index = torch.randperm(n, generator=generator)[: min(batch_size, n)]
        predicted, logits = probe(features[index])
        loss = _matching_loss(predicted, logits, [targets[i] for i in index.tolist()])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


@torch.no_grad()
def evaluate_spatial_probe(
    probe: SpatialProbe, features: torch.Tensor, boxes: Sequence[torch.Tensor], *, iou_threshold: float = 0.5
) -> dict[str, float]:
    """Box IoU and mAP of a trained probe on held-out ``features (N, n, d)`` and ``boxes``.

    Returns:
        ``{"box_iou": ..., "map50": ...}``: ``box_iou`` is the mean over objects of the IoU with the
        prediction matched to it one-to-one (Hungarian) among the ``k_i`` highest-scoring queries of its
        image; ``map50`` is class-agnostic average precision at IoU ``iou_threshold`` over all queries.
    """
    features = check_tensor("features", features, ndim=3)
    targets = _check_targets(boxes, features.shape[0])
    iou_threshold = check_probability(iou_threshold, "iou_threshold", allow_one=True)
    predicted, logits = probe(features)
    scores = logits.sigmoid()
    ious = []
    for pred, score, truth in zip(predicted, scores, targets, strict=True):
        if truth.shape[0] == 0:
            continue
        top = score.argsort(descending=True)[: truth.shape[0]]
        ious.append(matched_iou(pred[top], truth))
    if not ious:
        raise ValueError("boxes holds no object: nothing to evaluate")
    ap = box_average_precision(list(predicted), list(scores), targets, iou_threshold=iou_threshold)
    return {"box_iou": float(torch.cat(ious).mean()), "map50": float(ap)}


def latent_alignment(
    x: torch.Tensor, y: torch.Tensor, *, k: int = 10, alpha: float = 1.0, test_fraction: float = 0.2, seed: int = 0
) -> dict[str, float]:
    """How well two encoders' features of the same ``n`` inputs align.

    Args:
        x: ``(n, d_x)`` features (pool tokens first, e.g. their mean), e.g. the VLM's.
        y: ``(n, d_y)`` features of the same inputs, e.g. the video model's latents.
        k: neighbourhood size for recall@k.
        alpha, test_fraction, seed: the ridge probe from ``x`` to ``y`` (see ``linear_probe_r2``).

    Returns:
        ``{"linear_cka", "rbf_cka", "r2", "spearman", "recall_at_k"}`` as floats.
    """
    return {
        "linear_cka": float(linear_cka(x, y)),
        "rbf_cka": float(rbf_cka(x, y)),
        "r2": float(linear_probe_r2(x, y, alpha=alpha, test_fraction=test_fraction, seed=seed)),
        "spearman": float(rsa_spearman(x, y)),
        "recall_at_k": float(recall_at_k(x, y, k=k)),
    }
