"""A simple, deliberately generous estimate of the memory one pipeline call needs, and what is free.

The weights are already in memory when a call starts; what a call adds grows with the size of the
video. The estimate has two terms, both linear in ``num_continuations`` (one batch):

- **denoising**: the transformer's activations on the latent video tokens,
  ``tokens = continuations * guidance_branches * latent_frames * (height / s) * (width / s)`` with
  ``s`` the VAE's spatial compression; each token holds ``TOKEN_ACTIVATIONS`` vectors of the
  transformer's inner width (``heads * head_dim``) at once (attention in/out, the 4x feed-forward);
- **decoding**: the VAE decoder's highest-resolution feature maps,
  ``continuations * num_frames * height * width * channels / patch**2`` (``channels``: the decoder's
  first block) times
  ``DECODE_ACTIVATIONS`` live copies (a resnet block's input, normalisation and convolutions),
  plus the decoded frames in float32 three times (the tensor and its converted copies). With VAE
  tiling the area is one tile's.

Memory-efficient attention keeps the attention matrices out of this estimate; it is meant to refuse
calls that cannot fit by a wide margin (a 8192x8192 video, 100001 frames), not to predict the peak
of a call to within a few percent. ``check_memory=False`` on the call skips the check.
"""

from __future__ import annotations

import os

import torch

__all__ = ["DECODE_ACTIVATIONS", "TOKEN_ACTIVATIONS", "available_memory", "estimate_call_memory"]

TOKEN_ACTIVATIONS = 16
DECODE_ACTIVATIONS = 8


def estimate_call_memory(
    transformer,
    vae,
    *,
    height: int,
    width: int,
    num_frames: int,
    num_continuations: int,
    guidance: bool,
) -> int:
    """Bytes a call of this size needs beyond the weights (see the module docstring for the formula)."""
    spatial, temporal = vae.spatial_compression_ratio, vae.temporal_compression_ratio
    latent_frames = (num_frames - 1) // temporal + 1
    tokens = num_continuations * (2 if guidance else 1) * latent_frames * (height // spatial) * (width // spatial)
    config = transformer.config
    inner = config.num_attention_heads * config.attention_head_dim
    denoise = tokens * inner * TOKEN_ACTIVATIONS * _itemsize(transformer)

    # the decoder's highest-resolution block (the first of its config) holds the largest feature maps
    channels = (vae.config.decoder_block_out_channels or vae.config.block_out_channels)[0]
    patch = vae.config.patch_size
    area = height * width
    if getattr(vae, "use_tiling", False):
        area = min(height, vae.tile_sample_min_height) * min(width, vae.tile_sample_min_width)
    features = num_continuations * num_frames * area * channels // (patch * patch)
    decode = features * DECODE_ACTIVATIONS * _itemsize(vae)
    frames = 3 * num_continuations * num_frames * height * width * 3 * 4
    return denoise + decode + frames


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device``, or ``None`` when it cannot be told.

    CUDA: free device memory plus what PyTorch's caching allocator holds unused. CPU: the system's
    available memory (``psutil`` when installed, else ``MemAvailable`` of ``/proc/meminfo``, else
    ``os.sysconf``'s free pages).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _itemsize(module: torch.nn.Module) -> int:
    return torch.empty((), dtype=module.dtype).element_size()
