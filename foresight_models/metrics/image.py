"""Image metrics: pixel L1, PSNR, SSIM and LPIPS.

Images are ``(b, c, h, w)`` with values in ``[0, data_range]`` (``[0, 1]`` by default; LPIPS needs RGB
in ``[0, 1]``). Every function returns one value per image, shape ``(b,)``. Use
:func:`~foresight_models.metrics.framewise` for clips ``(b, t, c, h, w)``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from .._validation import check_choice, check_int, check_real
from .checks import check_same_shape, check_tensor

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "LPIPS_BACKBONE_URLS",
    "LPIPSWeightsError",
    "load_lpips_network",
    "lpips",
    "lpips_backbone_file",
    "pixel_l1",
    "psnr",
    "ssim",
]


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    data_range = check_real(data_range, "data_range", minimum=0.0, min_inclusive=False)
    prediction = check_tensor("prediction", prediction, ndim=4, value_range=(0.0, float(data_range)))
    target = check_tensor("target", target, ndim=4, value_range=(0.0, float(data_range)))
    check_same_shape("prediction", prediction, "target", target)
    return prediction, target


def pixel_l1(prediction: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean absolute pixel error per image.

    Args:
        prediction: ``(b, c, h, w)`` in ``[0, data_range]``.
        target: ``(b, c, h, w)`` in ``[0, data_range]``.

    Returns:
        ``(b,)`` in ``[0, data_range]``; lower is better.
    """
    prediction, target = _check_pair(prediction, target, data_range)
    return (prediction - target).abs().flatten(1).mean(dim=1)


def psnr(
    prediction: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0, max_db: float | None = None
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB.

    PSNR of identical images is ``inf``, which statistics over samples (means, paired tests) cannot
    use. Pass ``max_db`` to report ``min(PSNR, max_db)`` instead (a common choice is 100 dB); the cap
    is applied only when asked for.

    Args:
        prediction: ``(b, c, h, w)`` in ``[0, data_range]``.
        target: ``(b, c, h, w)`` in ``[0, data_range]``.
        max_db: optional upper bound in dB (a finite number > 0); ``None`` leaves ``inf`` as is.

    Returns:
        ``(b,)`` in dB, ``>= 0``; ``inf`` for identical images (``max_db`` when given); higher is better.
    """
    prediction, target = _check_pair(prediction, target, data_range)
    if max_db is not None:
        check_real(max_db, "max_db", minimum=0.0, min_inclusive=False)
    mse = (prediction - target).pow(2).flatten(1).mean(dim=1)
    value = 10.0 * torch.log10(data_range**2 / mse)
    return value if max_db is None else value.clamp(max=float(max_db))


def _gaussian_window(size: int, sigma: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def ssim(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image with a Gaussian window.

    Local statistics use a separable Gaussian window (``window_size`` 11, ``sigma`` 1.5) and population
    (co)variances; ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with ``L = data_range``. The SSIM map is averaged
    over the valid region (no padding) and over channels, which equals scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.

    Args:
        prediction: ``(b, c, h, w)`` in ``[0, data_range]``, ``h, w >= window_size``.
        target: ``(b, c, h, w)`` in ``[0, data_range]``.

    Returns:
        ``(b,)`` in ``[-1, 1]``; 1.0 for identical images; higher is better.
    """
    prediction, target = _check_pair(prediction, target, data_range)
    if check_int(window_size, "window_size") % 2 == 0:
        raise ValueError(f"window_size: expected a positive odd int, got {window_size!r}")
    check_real(sigma, "sigma", minimum=0.0, min_inclusive=False)
    check_real(k1, "k1", minimum=0.0, min_inclusive=False)
    check_real(k2, "k2", minimum=0.0, min_inclusive=False)
    b, c, h, w = prediction.shape
    if h < window_size or w < window_size:
        raise ValueError(f"ssim needs images of at least {window_size}x{window_size} pixels, got {h}x{w}")
    dtype = torch.promote_types(prediction.dtype, torch.float32)
    g = _gaussian_window(window_size, sigma, dtype=dtype, device=prediction.device)
    kernel_h = g.view(1, 1, window_size, 1).expand(c, 1, window_size, 1)
    kernel_w = g.view(1, 1, 1, window_size).expand(c, 1, 1, window_size)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kernel_h, groups=c), kernel_w, groups=c)

    x, y = prediction.to(dtype), target.to(dtype)
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(dim=1)


# -- LPIPS -------------------------------------------------------------------------------------------

#: torchvision's ImageNet checkpoints of the LPIPS backbones (``AlexNet_Weights`` / ``VGG16_Weights.IMAGENET1K_V1``).
LPIPS_BACKBONE_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


class LPIPSWeightsError(FileNotFoundError):
    """The ImageNet backbone weights that LPIPS needs are not available locally."""


def lpips_backbone_file(net: Literal["alex", "vgg"] = "alex") -> Path:
    """Where the LPIPS backbone's ImageNet weights are looked for: torchvision's file in the torch hub cache.

    This is ``$TORCH_HOME/hub/checkpoints/<file>`` (``~/.cache/torch/hub/checkpoints`` by default), the
    file torchvision would download for ``AlexNet_Weights.IMAGENET1K_V1`` / ``VGG16_Weights.IMAGENET1K_V1``.
    """
    import torch.hub

    check_choice(net, "net", sorted(LPIPS_BACKBONE_URLS))
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(LPIPS_BACKBONE_URLS[net])


@functools.lru_cache(maxsize=4)
def _cached_network(net: str, backbone_weights: str | None, random_backbone: bool) -> nn.Module:
    return _build_network(net, backbone_weights, random_backbone)


def _build_network(net: str, backbone_weights: str | None, random_backbone: bool) -> nn.Module:
    path = None
    if not random_backbone:
        path = Path(backbone_weights) if backbone_weights is not None else lpips_backbone_file(net)
        if not path.is_file():
            raise LPIPSWeightsError(
                f"LPIPS ({net}) needs the ImageNet weights of its backbone, which are not downloaded automatically. "
                f"Missing file: {path}. Download {LPIPS_BACKBONE_URLS[net]} to that path (or pass "
                "backbone_weights=<path to that file>), or pass random_backbone=True for an uncalibrated network "
                "(tests only)."
            )
    try:
        from torchmetrics.functional.image.lpips import _NoTrainLpips
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lpips needs torchmetrics and torchvision: pip install 'foresight_models[eval]' torchvision"
        ) from error
    # The backbone is built without weights (torchmetrics would otherwise download them); the LPIPS
    # linear layers come from the file that ships inside the torchmetrics package.
    network = _NoTrainLpips(net=net, pretrained=True, pnet_rand=True)
    if path is None:
        return network
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {}
    for name, _ in network.net.named_parameters():
        slice_name, rest = name.split(".", 1)  # "slice1.0.weight" -> "features.0.weight"
        key = f"features.{rest}"
        if key not in state:
            raise LPIPSWeightsError(f"{path} is not torchvision's {net} checkpoint: it has no {key!r}")
        features[name] = state[key]
    network.net.load_state_dict(features, strict=True)
    return network


def load_lpips_network(
    net: Literal["alex", "vgg"] = "alex",
    *,
    backbone_weights: str | os.PathLike[str] | None = None,
    random_backbone: bool = False,
) -> nn.Module:
    """Build torchmetrics' LPIPS network without touching the network.

    The LPIPS linear layers are loaded from torchmetrics' package; the backbone (AlexNet or VGG16) from
    ``backbone_weights`` or, by default, from :func:`lpips_backbone_file` (the torch hub cache). Nothing
    is ever downloaded.

    Args:
        net: ``"alex"`` (the usual choice) or ``"vgg"``.
        backbone_weights: path to torchvision's ImageNet checkpoint of the backbone.
        random_backbone: use a randomly initialised backbone instead (explicit opt-in; scores are then
            not LPIPS as published and are only useful in tests).

    Raises:
        LPIPSWeightsError: the backbone file is missing; the message names the file and the URL to fetch.
    """
    check_choice(net, "net", sorted(LPIPS_BACKBONE_URLS))
    if random_backbone and backbone_weights is not None:
        raise ValueError("pass either backbone_weights or random_backbone=True, not both")
    if random_backbone:
        return _build_network(net, None, True)
    return _cached_network(net, None if backbone_weights is None else os.fspath(backbone_weights), False)


def lpips(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    net: Literal["alex", "vgg"] = "alex",
    backbone_weights: str | os.PathLike[str] | None = None,
    random_backbone: bool = False,
    network: nn.Module | None = None,
) -> torch.Tensor:
    """Learned perceptual image patch similarity (Zhang et al. 2018), torchmetrics' implementation.

    Args:
        prediction: RGB ``(b, 3, h, w)`` in ``[0, 1]``.
        target: RGB ``(b, 3, h, w)`` in ``[0, 1]``.
        net, backbone_weights, random_backbone: see :func:`load_lpips_network`.
        network: a network from :func:`load_lpips_network` to reuse (the other options are then ignored).

    Returns:
        ``(b,)``, ``>= 0``; 0.0 for identical images; lower is better.

    Raises:
        LPIPSWeightsError: the backbone's ImageNet weights are not available locally.
    """
    prediction, target = _check_pair(prediction, target, 1.0)
    if prediction.shape[1] != 3:
        raise ValueError(f"lpips needs RGB images (b, 3, h, w), got shape {tuple(prediction.shape)}")
    if network is None:
        network = load_lpips_network(net, backbone_weights=backbone_weights, random_backbone=random_backbone)
    network = network.to(prediction.device)
    with torch.no_grad():
        scores = network(prediction.float(), target.float(), normalize=True)
    return scores.reshape(prediction.shape[0]).to(prediction.dtype)
