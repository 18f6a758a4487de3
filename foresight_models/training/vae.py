"""Train LTX-Video's VAE (``AutoencoderKLLTXVideo``) to reconstruct clips.

The loss is the L1 (or mean squared) distance between a clip and its reconstruction, plus a small KL
term that keeps the posterior close to a unit Gaussian. While training, the task also keeps
running per-channel statistics of the posterior means in the VAE's own ``latents_mean`` and
``latents_std`` buffers: the LTX pipelines normalise latents with them, so the transformer trained
next sees latents of zero mean and unit variance per channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_keys, check_real
from ..inputs import frames_to_float
from .task import TrainingTask

__all__ = ["VAETask", "build_vae_task", "fix_posterior_log_variance", "load_ltx_vae"]


class VAETask(TrainingTask):
    """Reconstruct ``batch["frames"]`` (uint8 ``(b, t, 3, h, w)``, ``t = k * temporal compression + 1``).

    Args:
        vae: an ``AutoencoderKLLTXVideo``.
        kl_weight: weight of the KL divergence of the posterior from ``N(0, 1)`` (mean over elements).
        sample_posterior: decode a sample of the posterior (a variational autoencoder) rather than its
            mean (a plain autoencoder; the default). LTX-Video's encoder predicts one log-variance shared by
            every channel, which starts near 0: sampled latents of a fresh VAE are mostly noise.
        stats_momentum: momentum of the running latent statistics (``latents_mean`` / ``latents_std``).
        reconstruction: ``"l1"`` or ``"mse"``, the distance between the clip and its reconstruction.
        crop: ``(frames, height, width)``: train on one random crop of this size per batch (the VAE is
            convolutional, so it then runs on clips of any size); ``frames`` is ``k * temporal
            compression + 1``, height and width multiples of the spatial compression. ``None``: whole clips.
    """

    def __init__(
        self,
        vae: nn.Module,
        *,
        kl_weight: float = 1e-4,
        sample_posterior: bool = False,
        stats_momentum: float = 0.01,
        crop: tuple[int, int, int] | None = None,
        reconstruction: str = "l1",
    ):
        super().__init__()
        self.reconstruction = check_choice(reconstruction, "reconstruction", ("l1", "mse"))
        if crop is not None:
            if isinstance(crop, (str, bytes)) or len(crop) != 3:
                raise TypeError(f"crop: expected None or (frames, height, width), got {crop!r}")
            frames, height, width = (check_int(v, f"crop[{i}]") for i, v in enumerate(crop))
            temporal, spatial = vae.temporal_compression_ratio, vae.spatial_compression_ratio
            if (frames - 1) % temporal or height % spatial or width % spatial:
                raise ValueError(
                    f"crop: expected frames = k * {temporal} + 1 and height, width multiples of {spatial}, got {tuple(crop)}"
                )
            crop = (frames, height, width)
        self.crop = crop
        self.vae = vae.requires_grad_(True)
        self.kl_weight = check_real(kl_weight, "kl_weight", minimum=0.0)
        self.sample_posterior = check_bool(sample_posterior, "sample_posterior")
        self.stats_momentum = check_real(stats_momentum, "stats_momentum", minimum=0.0, maximum=1.0)
        self.trainable = {"vae": vae}
        self.register_buffer("stats_started", torch.tensor(False))

    def clip(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """``batch["frames"]`` as the VAE's input: ``(b, 3, t, h, w)`` in ``[-1, 1]``."""
        frames = batch.get("frames")
        if not isinstance(frames, torch.Tensor) or frames.ndim != 5:
            raise KeyError(f"batch: VAETask needs 'frames' (b, t, 3, h, w); it has {sorted(batch)}")
        if self.crop is not None and self.training:
            frames = _random_crop(frames, self.crop)
        parameter = next(self.vae.parameters())
        clip = frames_to_float(frames).to(device=parameter.device, dtype=parameter.dtype)
        return clip.permute(0, 2, 1, 3, 4) * 2 - 1

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss", "l1", "kl"}`` of one batch."""
        clip = self.clip(batch)
        posterior = self.vae.encode(clip).latent_dist
        latents = posterior.sample() if self.sample_posterior else posterior.mode()
        reconstruction = self.vae.decode(latents).sample
        l1 = F.l1_loss(reconstruction.float(), clip.float())
        mse = F.mse_loss(reconstruction.float(), clip.float())
        kl = posterior.kl().float().mean() / posterior.mean[0].numel()
        if self.training:
            self.update_latent_statistics(posterior.mean.detach())
        distance = l1 if self.reconstruction == "l1" else mse
        return {"loss": distance + self.kl_weight * kl, "l1": l1.detach(), "mse": mse.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def update_latent_statistics(self, latents: torch.Tensor) -> None:
        """Fold the per-channel mean and std of ``latents (b, c, f, h, w)`` into the VAE's buffers."""
        values = latents.float().transpose(0, 1).flatten(1)
        mean, std = values.mean(1), values.std(1).clamp_min(1e-6)
        vae = self.vae
        if not bool(self.stats_started):
            vae.latents_mean.copy_(mean)
            vae.latents_std.copy_(std)
            self.stats_started.fill_(True)
            return
        vae.latents_mean.lerp_(mean.to(vae.latents_mean.dtype), self.stats_momentum)
        vae.latents_std.lerp_(std.to(vae.latents_std.dtype), self.stats_momentum)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Export ``directory/vae``. A VAE trained on its posterior mean gets a posterior without spread
        (:func:`fix_posterior_log_variance`): diffusers' LTX pipelines sample the posterior when they
        encode the conditioning image, and its untrained log-variance would add noise of a standard
        deviation near 1 to latents of a much smaller scale."""
        if not self.sample_posterior:
            fix_posterior_log_variance(self.vae)
        self.vae.save_pretrained(os.path.join(os.fspath(directory), "vae"))

    @torch.no_grad()
    def evaluate(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """Reconstruction from the posterior mean: ``{"l1", "psnr"}`` (PSNR on frames in ``[0, 1]``)."""
        clip = self.clip(batch)
        reconstruction = self.vae.decode(self.vae.encode(clip).latent_dist.mode()).sample.clamp(-1, 1)
        error = F.mse_loss((reconstruction.float() + 1) / 2, (clip.float() + 1) / 2)
        l1 = F.l1_loss(reconstruction.float(), clip.float())
        return {"l1": float(l1), "psnr": float(-10 * torch.log10(error.clamp_min(1e-10)))}


@torch.no_grad()
def fix_posterior_log_variance(vae: nn.Module, log_variance: float = -20.0) -> nn.Module:
    """Make ``vae.encode(x).latent_dist`` of an ``AutoencoderKLLTXVideo`` a point mass, in place: the
    encoder's output channel that holds the log-variance (its last one, shared by every latent channel)
    becomes the constant ``log_variance`` (-20: a standard deviation of 4.5e-5), so sampling the
    posterior gives its mean. The means are unchanged. Returns ``vae``."""
    conv = vae.encoder.conv_out.conv
    if conv.out_channels != vae.config.latent_channels + 1:
        raise ValueError(
            f"vae: expected an LTX-Video encoder whose last output channel is the shared log-variance "
            f"({vae.config.latent_channels + 1} channels), got {conv.out_channels}"
        )
    conv.weight[-1].zero_()
    if conv.bias is not None:
        conv.bias[-1] = log_variance
    return vae


def _random_crop(frames: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """One random ``(t, h, w)`` window of ``frames (b, T, c, H, W)`` for the whole batch (torch's RNG)."""
    starts = []
    for length, dim in zip(size, (frames.shape[1], frames.shape[3], frames.shape[4])):
        if length > dim:
            raise ValueError(f"crop: {size} is larger than the clips {tuple(frames.shape[1:])}")
        starts.append(int(torch.randint(0, dim - length + 1, ())))
    (t0, y0, x0), (t, h, w) = starts, size
    return frames[:, t0 : t0 + t, :, y0 : y0 + h, x0 : x0 + w]


def load_ltx_vae(model: str | os.PathLike, *, seed: int = 0, local_files_only: bool = False) -> nn.Module:
    """``"tiny"``, a VAE folder, or a pipeline folder / Hub id with a ``vae`` subfolder."""
    if model == "tiny":
        from ..testing import tiny_ltx_vae

        return tiny_ltx_vae(seed)
    from diffusers import AutoencoderKLLTXVideo

    location = os.fspath(model)
    subfolder = "vae" if os.path.isdir(os.path.join(location, "vae")) or not os.path.isdir(location) else None
    try:
        return AutoencoderKLLTXVideo.from_pretrained(location, subfolder=subfolder, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"task.model: cannot load an LTX-Video VAE from {location!r} (a VAE folder, or a pipeline folder or "
            f"Hub id with a 'vae' subfolder): {error}"
        ) from error


def build_vae_task(section: Mapping[str, Any]) -> VAETask:
    """``{"name": "vae", "model": "tiny" | folder | Hub id, "kl_weight": 1e-4, "sample_posterior": false,
    "stats_momentum": 0.01, "crop": null | [frames, height, width], "reconstruction": "l1" | "mse", "seed": 0}``."""
    check_keys(
        section,
        "task",
        allowed=[
            "name",
            "model",
            "kl_weight",
            "sample_posterior",
            "stats_momentum",
            "crop",
            "reconstruction",
            "seed",
            "local_files_only",
        ],
        required=["model"],
    )
    model = section["model"]
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model):
        raise TypeError(f"task.model: expected 'tiny', a folder or a Hub id, got {model!r}")
    kl_weight = check_real(section.get("kl_weight", 1e-4), "task.kl_weight", minimum=0.0)
    momentum = check_real(section.get("stats_momentum", 0.01), "task.stats_momentum", minimum=0.0, maximum=1.0)
    seed = check_int(section.get("seed", 0), "task.seed", minimum=0)
    vae = load_ltx_vae(model, seed=seed, local_files_only=bool(section.get("local_files_only", False)))
    vae.use_framewise_encoding = vae.use_framewise_decoding = False
    sample = check_bool(section.get("sample_posterior", False), "task.sample_posterior")
    crop = section.get("crop")
    if crop is not None and not isinstance(crop, (list, tuple)):
        raise TypeError(f"task.crop: expected null or [frames, height, width], got {crop!r}")
    try:
        return VAETask(
            vae.train(),
            kl_weight=kl_weight,
            sample_posterior=sample,
            stats_momentum=momentum,
            crop=None if crop is None else tuple(crop),
            reconstruction=section.get("reconstruction", "l1"),
        )
    except (TypeError, ValueError) as error:  # name the config key
        raise type(error)(f"task.{error}") from error
