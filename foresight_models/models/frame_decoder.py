"""SimpleFrameDecoder: tokens on a patch grid -> an RGB frame, through convolutional upsampling.

Used for pixel feedback: a prediction head's tokens are decoded to pixels and compared with the real
next frame (:func:`foresight_models.models.losses.pixel_l1_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from einops import rearrange
from torch import nn

from .._validation import check_int, check_size_pair
from ..hub import ComponentHubMixin
from .losses import pixel_l1_loss
from .modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = ["SimpleFrameDecoder"]


def _group_norm(channels: int) -> nn.GroupNorm:
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class _ResBlock(nn.Module):
    """Pre-norm residual conv block ``x + conv(silu(norm(conv(silu(norm(x))))))``; the last conv starts
    at zero so a new block is the identity. Shapes: ``(b, c, h, w) -> (b, c, h, w)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            _group_norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _group_norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class SimpleFrameDecoder(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """Decode tokens ``(b, n, d)`` laid out on a ``(gh, gw)`` grid to RGB ``(b, 3, H, W)`` in [0, 1].

    Steps: ``LayerNorm + Linear(d, channels[0])`` per token; tokens to a feature map ``b c gh gw``;
    bilinear resize to the base size ``out_size / 2 ** (len(channels) - 1)``; then for each stage
    ``blocks_per_stage`` residual conv blocks followed (except after the last stage) by a nearest 2x
    upsample and a 3x3 conv to the next width; finally ``GroupNorm, SiLU, Conv3x3 -> 3`` and a sigmoid.

    Args:
        dim: token width ``d``.
        grid: ``(gh, gw)`` with ``gh * gw = n`` (an int means a square grid).
        out_size: output ``H = W`` or ``(H, W)``; each must be divisible by ``2 ** (len(channels) - 1)``.
        channels: widths of the stages, from the coarsest.
        blocks_per_stage: residual blocks per stage.
        out_channels: channels of the image (3 for RGB).
    """

    @register_to_config
    def __init__(
        self,
        *,
        dim: int = 1024,
        grid: tuple[int, int] = (8, 8),
        out_size: int | tuple[int, int] = 224,
        channels: tuple[int, ...] = (256, 128, 64, 32, 16),
        blocks_per_stage: int = 1,
        out_channels: int = 3,
    ):
        super().__init__()
        for name, value in (("dim", dim), ("blocks_per_stage", blocks_per_stage), ("out_channels", out_channels)):
            check_int(value, name, plain=True)
        if not isinstance(channels, (tuple, list)) or len(channels) < 1:
            raise TypeError(f"channels: expected a non-empty sequence of positive ints, got {channels!r}")
        for i, width in enumerate(channels):
            check_int(width, f"channels[{i}]", plain=True)
        self.grid = check_size_pair(grid, "grid", plain=True)
        self.out_size = check_size_pair(out_size, "out_size", plain=True)
        factor = 2 ** (len(channels) - 1)
        if any(s % factor for s in self.out_size):
            raise ValueError(
                f"out_size={self.out_size} must be divisible by 2 ** (len(channels) - 1) = {factor} "
                f"(channels={tuple(channels)})"
            )
        self.base_size = (self.out_size[0] // factor, self.out_size[1] // factor)
        channels = tuple(channels)

        self.proj_in = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, channels[0]))
        self.stages = nn.ModuleList()
        for i, width in enumerate(channels):
            layers: list[nn.Module] = [_ResBlock(width) for _ in range(blocks_per_stage)]
            if i + 1 < len(channels):
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, channels[i + 1], 3, padding=1)]
            self.stages.append(nn.Sequential(*layers))
        self.proj_out = nn.Sequential(
            _group_norm(channels[-1]), nn.SiLU(), nn.Conv2d(channels[-1], out_channels, 3, padding=1)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens (b, n, d)`` with ``n = gh * gw`` (row-major) -> images ``(b, out_channels, H, W)`` in [0, 1].

        Floating tokens of another dtype are cast to the decoder's parameter dtype (the images come
        out in it); integer or boolean tokens raise a ``TypeError``.
        """
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor of shape (b, n, d), got {type(tokens).__name__}")
        if not tokens.is_floating_point():
            raise TypeError(f"tokens must be a floating-point tensor, got dtype {tokens.dtype}")
        gh, gw = self.grid
        if tokens.ndim != 3:
            raise ValueError(f"tokens must have shape (b, n, d), got {tuple(tokens.shape)}")
        if tokens.shape[1] != gh * gw:
            raise ValueError(f"tokens hold n={tokens.shape[1]} tokens but grid={self.grid} needs gh * gw = {gh * gw}")
        if tokens.shape[2] != self.config.dim:
            raise ValueError(f"tokens have d={tokens.shape[2]} but the decoder was built with dim={self.config.dim}")
        tokens = tokens.to(self.proj_in[1].weight.dtype)
        x = rearrange(self.proj_in(tokens), "b (gh gw) c -> b c gh gw", gh=gh, gw=gw)
        if (gh, gw) != self.base_size:
            x = F.interpolate(x, size=self.base_size, mode="bilinear", align_corners=False)
        for stage in self.stages:
            x = stage(x)
        return torch.sigmoid(self.proj_out(x))

    def loss(self, tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Pixel L1 between ``self(tokens)`` and ``target (b, out_channels, H, W)`` in [0, 1]; a scalar."""
        return pixel_l1_loss(self(tokens), target)
