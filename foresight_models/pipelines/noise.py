"""Where a call's noise comes from: a seed, one generator, a list of generators, or latents drawn in advance."""

from __future__ import annotations

import secrets
from typing import Any

import torch

from .._validation import check_int

__all__ = ["check_latents", "noise_source", "packed_latent_shape"]


def noise_source(generator: Any, seed: Any, *, num_continuations: int) -> tuple[Any, int | None]:
    """The generator(s) the noise is drawn from and the seed the output reports.

    - neither: a fresh CPU generator seeded with a random seed (reported);
    - ``seed``: a fresh CPU generator seeded with it (reported);
    - one ``torch.Generator``: used for the whole batch; its ``initial_seed()`` is reported;
    - a list of ``num_continuations`` generators (continuation ``i`` draws from ``generator[i]``, as in
      diffusers): the reported seed is ``None``, since no single seed reproduces the call.

    Raises:
        TypeError: a generator of another type; ValueError: a seed out of range, both set, or a list of
        the wrong length.
    """
    if generator is None:
        if seed is None:
            seed = secrets.randbits(63)
        else:
            seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
        return torch.Generator().manual_seed(seed), seed
    if seed is not None:
        raise ValueError(f"pass either generator or seed, not both (got seed={seed!r} and a generator)")
    if isinstance(generator, torch.Generator):
        return generator, generator.initial_seed()
    if isinstance(generator, (list, tuple)):
        wrong = [type(g).__name__ for g in generator if not isinstance(g, torch.Generator)]
        if wrong:
            raise TypeError(f"generator: a list must hold only torch.Generator objects, got a list with {wrong[0]}")
        if len(generator) != num_continuations:
            raise ValueError(
                f"generator: a list needs one torch.Generator per continuation (num_continuations={num_continuations}), "
                f"got a list of {len(generator)}"
            )
        return list(generator), None
    raise TypeError(
        "generator: expected a torch.Generator, a list of one per continuation, or None, "
        f"got {type(generator).__name__}"
    )


def packed_latent_shape(transformer, vae, *, num_continuations: int, height: int, width: int, num_frames: int):
    """``(n, tokens, channels)``: the packed initial latents ``LTXImageToVideoPipeline`` takes as ``latents``."""
    p, pt = transformer.config.patch_size, transformer.config.patch_size_t
    frames = (num_frames - 1) // vae.temporal_compression_ratio + 1
    h, w = height // vae.spatial_compression_ratio, width // vae.spatial_compression_ratio
    tokens = (frames // pt) * (h // p) * (w // p)
    return (num_continuations, tokens, transformer.config.in_channels * p * p * pt)


def check_latents(latents: Any, transformer, vae, **sizes: int) -> torch.Tensor | None:
    """``latents`` packed as ``LTXImageToVideoPipeline`` takes them, or ``None``.

    Accepts the packed ``(n, tokens, channels)`` tensor or the unpacked ``(n, channels, frames, h, w)``
    latent video (packed here), ``n = num_continuations``; they are the *initial* latents of the denoising
    loop, so latent frame 0 should hold the encoded context frame (diffusers then ignores ``image``).

    Raises:
        TypeError: not a tensor; ValueError: a shape that does not fit the call, naming the expected one.
    """
    if latents is None:
        return None
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"latents: expected a torch.Tensor or None, got {type(latents).__name__}")
    packed = packed_latent_shape(transformer, vae, **sizes)
    p, pt = transformer.config.patch_size, transformer.config.patch_size_t
    n, tokens, channels = packed
    frames = (sizes["num_frames"] - 1) // vae.temporal_compression_ratio + 1
    unpacked = (
        n,
        channels // (p * p * pt),
        frames,
        sizes["height"] // vae.spatial_compression_ratio,
        sizes["width"] // vae.spatial_compression_ratio,
    )
    if tuple(latents.shape) == unpacked:
        from diffusers import LTXImageToVideoPipeline

        return LTXImageToVideoPipeline._pack_latents(latents, p, pt)
    if tuple(latents.shape) != packed:
        raise ValueError(
            f"latents: expected shape {packed} (packed: num_continuations, tokens, channels) or {unpacked} "
            f"(num_continuations, channels, latent frames, height, width) for this call, got {tuple(latents.shape)}"
        )
    return latents
