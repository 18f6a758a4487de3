"""The LTX-Video image-to-video flow-matching objective, built from diffusers' own pipeline pieces.

One training step on a clip, exactly mirroring what ``LTXImageToVideoPipeline`` does at inference:

1. ``x0``: the clip's VAE latents ``(b, c, f, h, w)``, normalised as the pipeline normalises latents
   (``LTXImageToVideoPipeline._normalize_latents`` with the VAE's ``latents_mean``/``latents_std`` and
   ``scaling_factor``).
2. ``sigma`` per sample: drawn logit-normal (default) or uniform in ``(0, 1)``, then shifted the way
   the pipeline's ``FlowMatchEulerDiscreteScheduler`` shifts its inference sigmas: with
   ``use_dynamic_shifting`` (LTX-Video's scheduler) by ``scheduler.time_shift(mu, 1.0, u)`` where
   ``mu = calculate_shift(video_sequence_length, ...)`` reads the scheduler's config as the pipeline
   does; otherwise by the static ``shift * u / (1 + (shift - 1) * u)``. ``shift_terminal`` is not
   applied (it rescales a whole inference schedule to end at a given value, which a single random
   draw does not have).
3. ``noisy = (1 - sigma) * x0 + sigma * noise`` on every latent frame but the first, which stays
   clean as image-to-video keeps it (the per-token sigma is ``sigma * (1 - conditioning_mask)``).
4. The transformer sees the packed noisy latents, a per-token timestep
   ``sigma * num_train_timesteps * (1 - conditioning_mask)`` (the ``conditioning_mask`` is built as
   ``LTXImageToVideoPipeline.prepare_latents`` builds it: 1 on latent frame 0), the latent
   ``num_frames/height/width`` and the pipeline's ``rope_interpolation_scale``.
5. Loss: mean squared error between its output and the velocity ``noise - x0`` on the tokens of the
   frames that are generated; frame 0's tokens are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .._validation import check_choice, check_int, check_real

if TYPE_CHECKING:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

__all__ = [
    "LTXFlowMatchingOutput",
    "SIGMA_SAMPLINGS",
    "check_ltx_video_size",
    "encode_ltx_video",
    "i2v_conditioning_mask",
    "ltx_i2v_flow_matching_loss",
    "normalize_ltx_latents",
    "sample_flow_sigmas",
    "shift_flow_sigmas",
]

#: How the un-shifted sigma is drawn: logit-normal (SD3 / LTX-Video trainers' default) or uniform.
SIGMA_SAMPLINGS = ("logit_normal", "uniform")


@dataclass
class LTXFlowMatchingOutput:
    """What one evaluation of :func:`ltx_i2v_flow_matching_loss` produced.

    Attributes:
        loss: scalar, mean squared error on the tokens of latent frames ``1..f-1``.
        prediction: ``(b, n, c)`` the transformer's packed output (``n = f * h * w`` tokens).
        target: ``(b, n, c)`` the packed velocity ``noise - x0`` (meaningless on frame 0's tokens).
        sigmas: ``(b,)`` the shifted sigma of every sample.
        timestep: ``(b, n)`` the per-token timestep given to the transformer (0 on frame 0).
        conditioning_mask: ``(b, n)`` 1.0 on the tokens of latent frame 0, else 0.0.
        noisy_latents: ``(b, n, c)`` the packed transformer input.
    """

    loss: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor
    sigmas: torch.Tensor
    timestep: torch.Tensor
    conditioning_mask: torch.Tensor
    noisy_latents: torch.Tensor


def _pipeline_class():
    from diffusers import LTXImageToVideoPipeline

    return LTXImageToVideoPipeline


def check_ltx_video_size(
    num_frames: int, height: int, width: int, *, temporal_ratio: int, spatial_ratio: int, name: str = "frames"
) -> None:
    """Refuse a pixel clip the LTX VAE cannot encode to whole latent frames and cells.

    Raises:
        ValueError: ``(num_frames - 1) % temporal_ratio != 0`` (``8k + 1`` frames for LTX-Video), or a
            height/width that is not a multiple of ``spatial_ratio`` (32 for LTX-Video).
    """
    if (num_frames - 1) % temporal_ratio != 0:
        raise ValueError(
            f"{name}: the VAE compresses time by {temporal_ratio}, so a clip needs {temporal_ratio}k + 1 frames "
            f"(e.g. {temporal_ratio + 1} or {2 * temporal_ratio + 1}), got {num_frames} frames"
        )
    for axis, value in (("height", height), ("width", width)):
        if value % spatial_ratio != 0:
            raise ValueError(
                f"{name}: the VAE compresses space by {spatial_ratio}, so the {axis} must be a multiple of "
                f"{spatial_ratio}, got {axis} {value}"
            )


def encode_ltx_video(vae: AutoencoderKLLTXVideo, frames: torch.Tensor, *, sample: bool = False) -> torch.Tensor:
    """Encode uint8 clips with the LTX VAE (raw latents; :func:`normalize_ltx_latents` gives what a latent cache stores).

    Args:
        vae: a diffusers ``AutoencoderKLLTXVideo``.
        frames: uint8 ``(b, t, 3, h, w)`` with ``t = k * vae.temporal_compression_ratio + 1`` and ``h, w``
            multiples of ``vae.spatial_compression_ratio``.
        sample: draw from the posterior (torch's RNG) instead of taking its mode (deterministic, the default).

    Returns:
        ``(b, c, f, h', w')`` latents in the VAE's dtype, ``f = (t - 1) / temporal_ratio + 1``.
    """
    if not isinstance(frames, torch.Tensor) or frames.dtype != torch.uint8 or frames.ndim != 5 or frames.shape[2] != 3:
        raise ValueError(
            "frames: expected a uint8 tensor (b, t, 3, h, w), got "
            + (f"{frames.dtype} {tuple(frames.shape)}" if isinstance(frames, torch.Tensor) else type(frames).__name__)
        )
    _, t, _, h, w = frames.shape
    check_ltx_video_size(
        t, h, w, temporal_ratio=vae.temporal_compression_ratio, spatial_ratio=vae.spatial_compression_ratio
    )
    from .features import frames_to_float

    video = (frames_to_float(frames.to(vae.device)) * 2.0 - 1.0).to(vae.dtype).permute(0, 2, 1, 3, 4)
    distribution = vae.encode(video).latent_dist
    return distribution.sample() if sample else distribution.mode()


def normalize_ltx_latents(latents: torch.Tensor, vae: AutoencoderKLLTXVideo) -> torch.Tensor:
    """``(b, c, f, h, w)`` raw VAE latents -> the space the transformer denoises (the pipeline's normalisation)."""
    return _pipeline_class()._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)


def i2v_conditioning_mask(
    batch_size: int,
    num_frames: int,
    height: int,
    width: int,
    *,
    patch_size: int = 1,
    patch_size_t: int = 1,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The packed image-to-video conditioning mask, built as ``LTXImageToVideoPipeline.prepare_latents`` does.

    Args:
        batch_size, num_frames, height, width: latent geometry (before the transformer's patching).
        patch_size, patch_size_t: the transformer's ``patch_size`` and ``patch_size_t``.

    Returns:
        ``(batch_size, n)`` with ``n = (num_frames / patch_size_t) * (height / patch_size) * (width / patch_size)``:
        1.0 on the tokens of latent frame 0, 0.0 elsewhere.
    """
    mask = torch.zeros(batch_size, 1, num_frames, height, width, device=device, dtype=dtype)
    mask[:, :, 0] = 1.0
    return _pipeline_class()._pack_latents(mask, patch_size, patch_size_t).squeeze(-1)


def shift_flow_sigmas(
    sigmas: torch.Tensor, scheduler: FlowMatchEulerDiscreteScheduler | None, *, video_sequence_length: int
) -> torch.Tensor:
    """Shift sigmas in ``(0, 1)`` as the scheduler's ``set_timesteps`` shifts the pipeline's inference sigmas.

    With ``scheduler.config.use_dynamic_shifting`` (LTX-Video): ``scheduler.time_shift(mu, 1.0, sigmas)``
    where ``mu = calculate_shift(video_sequence_length, base_image_seq_len, max_image_seq_len,
    base_shift, max_shift)`` from the scheduler's config, exactly the ``mu`` the pipeline passes.
    Otherwise the static shift ``s * sigma / (1 + (s - 1) * sigma)`` with ``s = scheduler.shift``.
    ``None`` leaves the sigmas unchanged.

    Args:
        sigmas: ``(b,)`` values in ``(0, 1)``.
        scheduler: a ``FlowMatchEulerDiscreteScheduler`` or ``None``.
        video_sequence_length: latent ``frames * height * width`` (the pipeline's ``video_sequence_length``).
    """
    if scheduler is None:
        return sigmas
    from diffusers.pipelines.ltx.pipeline_ltx_image2video import calculate_shift

    config = scheduler.config
    if config.use_dynamic_shifting:
        mu = calculate_shift(
            video_sequence_length,
            config.get("base_image_seq_len", 256),
            config.get("max_image_seq_len", 4096),
            config.get("base_shift", 0.5),
            config.get("max_shift", 1.15),
        )
        return scheduler.time_shift(mu, 1.0, sigmas)
    shift = scheduler.shift
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def sample_flow_sigmas(
    batch_size: int,
    *,
    scheduler: FlowMatchEulerDiscreteScheduler | None = None,
    video_sequence_length: int,
    sampling: str = "logit_normal",
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw one flow-matching sigma per sample, then shift it (:func:`shift_flow_sigmas`).

    Args:
        batch_size: number of sigmas.
        scheduler: the pipeline's scheduler, whose shift is applied (``None``: no shift).
        video_sequence_length: latent ``frames * height * width`` (for the dynamic shift).
        sampling: ``"logit_normal"`` (``sigmoid(N(logit_mean, logit_std))``) or ``"uniform"`` on ``(0, 1)``.
        logit_mean, logit_std: parameters of the logit-normal draw.
        generator: RNG for the draw (torch's global RNG if ``None``); it must live on ``device``.

    Returns:
        ``(batch_size,)`` float32 sigmas in ``(0, 1)``.
    """
    check_int(batch_size, "batch_size")
    check_choice(sampling, "sampling", SIGMA_SAMPLINGS)
    check_real(logit_mean, "logit_mean")
    check_real(logit_std, "logit_std", minimum=0.0, min_inclusive=False)
    if sampling == "logit_normal":
        normal = torch.randn(batch_size, generator=generator, device=device, dtype=torch.float32)
        sigmas = torch.sigmoid(normal * logit_std + logit_mean)
    else:
        sigmas = torch.rand(batch_size, generator=generator, device=device, dtype=torch.float32)
    # keep strictly inside (0, 1): the shift maps 0 to 0 through 1 / sigma
    eps = torch.finfo(torch.float32).eps
    sigmas = sigmas.clamp(eps, 1.0 - eps)
    return shift_flow_sigmas(sigmas, scheduler, video_sequence_length=video_sequence_length)


def ltx_i2v_flow_matching_loss(
    transformer: LTXVideoTransformer3DModel,
    latents: torch.Tensor,
    *,
    prompt_embeds: torch.Tensor | None = None,
    prompt_attention_mask: torch.Tensor | None = None,
    vae: AutoencoderKLLTXVideo | None = None,
    spatial_compression_ratio: int | None = None,
    temporal_compression_ratio: int | None = None,
    normalize: bool = True,
    scheduler: FlowMatchEulerDiscreteScheduler | None = None,
    sigmas: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    sampling: str = "logit_normal",
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
    frame_rate: float = 25.0,
    transformer_kwargs: dict[str, Any] | None = None,
) -> LTXFlowMatchingOutput:
    """The image-to-video flow-matching loss of an LTX-Video transformer on a batch of clip latents.

    Args:
        transformer: a diffusers ``LTXVideoTransformer3DModel`` (possibly with a LoRA or conditioning hooks).
        latents: ``(b, c, f, h, w)`` VAE latents of the clips (latent frame 0 is the conditioning image).
            Raw (as the VAE gives them) with ``normalize=True``, else already normalised (as a latent cache holds them).
        prompt_embeds: ``(b, l, caption_channels)`` T5 embeddings; ``None`` gives every sample one zero
            token (no prompt).
        prompt_attention_mask: ``(b, l)`` 1 = real token; ``None`` = all real.
        vae: the ``AutoencoderKLLTXVideo`` the latents come from: its ``latents_mean``, ``latents_std``,
            ``scaling_factor`` (normalisation) and compression ratios (``rope_interpolation_scale``).
        spatial_compression_ratio, temporal_compression_ratio: the VAE's ratios when ``vae`` is not given.
        normalize: normalise ``latents`` with the VAE's statistics (needs ``vae``).
        scheduler: the pipeline's ``FlowMatchEulerDiscreteScheduler``: its shift is applied to sampled
            sigmas and its ``num_train_timesteps`` scales them to timesteps (1000 without one).
        sigmas: ``(b,)`` sigmas in ``[0, 1]`` to use as they are (no sampling, no shift).
        noise: ``(b, c, f, h, w)`` standard normal noise (drawn from ``generator`` if ``None``).
        generator: RNG for sigmas and noise (torch's global RNG if ``None``), on the latents' device.
        sampling, logit_mean, logit_std: how sigmas are drawn (:func:`sample_flow_sigmas`).
        frame_rate: frames per second of the clips (the pipeline's ``frame_rate``, in ``rope_interpolation_scale``).
        transformer_kwargs: extra keyword arguments of the transformer call (e.g. ``attention_kwargs``).

    Returns:
        :class:`LTXFlowMatchingOutput`; ``loss`` is float32.
    """
    if not isinstance(latents, torch.Tensor) or latents.ndim != 5 or not latents.is_floating_point():
        raise ValueError(
            "latents: expected a float tensor (b, c, f, h, w), got "
            + (
                f"{latents.dtype} {tuple(latents.shape)}"
                if isinstance(latents, torch.Tensor)
                else type(latents).__name__
            )
        )
    config = transformer.config
    b, c, f, h, w = latents.shape
    if c != config.in_channels:
        raise ValueError(
            f"latents: expected {config.in_channels} channels (transformer in_channels), got shape {tuple(latents.shape)}"
        )
    p, pt = config.patch_size, config.patch_size_t
    if f < 2 or f % pt or h % p or w % p:
        raise ValueError(
            f"latents: need at least 2 latent frames and frames/height/width divisible by the transformer's "
            f"patch sizes ({pt}, {p}, {p}), got shape {tuple(latents.shape)}"
        )
    if vae is not None:
        spatial_compression_ratio = vae.spatial_compression_ratio
        temporal_compression_ratio = vae.temporal_compression_ratio
    if spatial_compression_ratio is None or temporal_compression_ratio is None:
        raise ValueError("pass vae, or both spatial_compression_ratio and temporal_compression_ratio")
    check_int(spatial_compression_ratio, "spatial_compression_ratio")
    check_int(temporal_compression_ratio, "temporal_compression_ratio")
    check_real(frame_rate, "frame_rate", minimum=0.0, min_inclusive=False)
    if normalize:
        if vae is None:
            raise ValueError("normalize=True needs the vae (its latents_mean, latents_std and scaling_factor)")
        latents = normalize_ltx_latents(latents, vae)
    device = latents.device
    x0 = latents.float()

    grid = (f // pt, h // p, w // p)
    sequence_length = grid[0] * grid[1] * grid[2]
    if sigmas is None:
        sigmas = sample_flow_sigmas(
            b,
            scheduler=scheduler,
            video_sequence_length=f * h * w,
            sampling=sampling,
            logit_mean=logit_mean,
            logit_std=logit_std,
            generator=generator,
            device=device,
        )
    elif not isinstance(sigmas, torch.Tensor) or tuple(sigmas.shape) != (b,):
        raise ValueError(f"sigmas: expected a tensor of shape ({b},), got {getattr(sigmas, 'shape', sigmas)!r}")
    sigmas = sigmas.to(device=device, dtype=torch.float32)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=device, dtype=torch.float32)
    elif tuple(noise.shape) != tuple(x0.shape):
        raise ValueError(f"noise: expected shape {tuple(x0.shape)} (that of latents), got {tuple(noise.shape)}")
    noise = noise.to(device=device, dtype=torch.float32)

    pipeline = _pipeline_class()
    mask = i2v_conditioning_mask(b, f, h, w, patch_size=p, patch_size_t=pt, device=device)  # (b, n)
    x0_packed = pipeline._pack_latents(x0, p, pt)  # (b, n, c')
    noise_packed = pipeline._pack_latents(noise, p, pt)
    token_sigma = (sigmas[:, None] * (1 - mask)).unsqueeze(-1)  # (b, n, 1): 0 on frame 0
    noisy = (1 - token_sigma) * x0_packed + token_sigma * noise_packed
    target = noise_packed - x0_packed

    num_train_timesteps = scheduler.config.num_train_timesteps if scheduler is not None else 1000
    timestep = sigmas[:, None] * num_train_timesteps * (1 - mask)  # (b, n), as the pipeline's per-token timestep

    dtype = transformer.dtype
    if prompt_embeds is None:
        if prompt_attention_mask is not None:
            raise ValueError("prompt_attention_mask was given without prompt_embeds")
        prompt_embeds = torch.zeros(b, 1, config.caption_channels, device=device, dtype=dtype)
    if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != b or prompt_embeds.shape[-1] != config.caption_channels:
        raise ValueError(
            f"prompt_embeds: expected shape ({b}, l, {config.caption_channels}), got {tuple(prompt_embeds.shape)}"
        )
    if prompt_attention_mask is None:
        prompt_attention_mask = torch.ones(prompt_embeds.shape[:2], device=device, dtype=torch.long)
    elif tuple(prompt_attention_mask.shape) != tuple(prompt_embeds.shape[:2]):
        raise ValueError(
            f"prompt_attention_mask: expected shape {tuple(prompt_embeds.shape[:2])}, got {tuple(prompt_attention_mask.shape)}"
        )

    rope_interpolation_scale = (
        temporal_compression_ratio / frame_rate,
        spatial_compression_ratio,
        spatial_compression_ratio,
    )
    prediction = transformer(
        hidden_states=noisy.to(dtype),
        encoder_hidden_states=prompt_embeds.to(device=device, dtype=dtype),
        timestep=timestep,
        encoder_attention_mask=prompt_attention_mask.to(device),
        num_frames=grid[0],
        height=grid[1],
        width=grid[2],
        rope_interpolation_scale=rope_interpolation_scale,
        return_dict=False,
        **(transformer_kwargs or {}),
    )[0]
    if prediction.shape[1] != sequence_length:
        raise RuntimeError(f"transformer returned {prediction.shape[1]} tokens, expected {sequence_length}")

    weights = 1 - mask  # (b, n): the generated frames' tokens
    per_token = (prediction.float() - target).pow(2).mean(dim=-1)
    loss = (per_token * weights).sum() / weights.sum()
    return LTXFlowMatchingOutput(
        loss=loss,
        prediction=prediction,
        target=target,
        sigmas=sigmas,
        timestep=timestep,
        conditioning_mask=mask,
        noisy_latents=noisy,
    )
