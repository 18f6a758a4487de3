"""Evaluation metrics: pure, batched torch functions, one documented meaning each.

=====================  =========================================  ===========================
name                   inputs                                     result
=====================  =========================================  ===========================
pixel_l1, psnr, ssim   images ``(b, c, h, w)`` in ``[0, 1]``         ``(b,)``
lpips                  RGB images ``(b, 3, h, w)`` in ``[0, 1]``      ``(b,)``
temporal_consistency   clip ``(b, t, c, h, w)`` or features          ``(b,)``
temporal_ratio         predicted and real clips ``(b, t, ...)``       ``(b,)``
cosine_similarity      ``(b, d)`` or ``(b, n, d)`` pairs              ``(b,)``
linear_cka, rbf_cka    feature sets ``(n, d_x)``, ``(n, d_y)``         scalar
linear_probe_r2        feature sets ``(n, d_x)``, ``(n, d_y)``         scalar
rsa_spearman           feature sets ``(n, d_x)``, ``(n, d_y)``         scalar
recall_at_k            feature sets ``(n, d_x)``, ``(n, d_y)``         scalar
box_iou, mask_iou      ``(n, 4)`` boxes / ``(n, h, w)`` masks        ``(n, m)`` pairwise
action_recall          descriptions and SSv2 labels               fraction in ``[0, 1]``
=====================  =========================================  ===========================

Importing this package imports neither scipy nor torchmetrics; the functions that need them import
them when called.
"""

from .image import LPIPSWeightsError, load_lpips_network, lpips, lpips_backbone_file, pixel_l1, psnr, ssim
from .latent import cosine_similarity, linear_cka, linear_probe_r2, rank, rbf_cka, recall_at_k, rsa_spearman
from .spatial import box_average_precision, box_iou, mask_iou, match_objects, matched_iou
from .text import DEFAULT_SYNONYMS, action_hits, action_recall, mentions_action, normalize_words
from .video import framewise, temporal_consistency, temporal_ratio

__all__ = [
    "DEFAULT_SYNONYMS",
    "LPIPSWeightsError",
    "action_hits",
    "action_recall",
    "box_average_precision",
    "box_iou",
    "cosine_similarity",
    "framewise",
    "linear_cka",
    "linear_probe_r2",
    "load_lpips_network",
    "lpips",
    "lpips_backbone_file",
    "mask_iou",
    "match_objects",
    "matched_iou",
    "mentions_action",
    "normalize_words",
    "pixel_l1",
    "psnr",
    "rank",
    "rbf_cka",
    "recall_at_k",
    "rsa_spearman",
    "ssim",
    "temporal_consistency",
    "temporal_ratio",
]
