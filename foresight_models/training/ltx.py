"""Fine-tune LTX-Video for image-to-video with flow matching: conditioning adapters, a LoRA, or all of it.

:class:`LTXFlowMatchingTask` is a :class:`~foresight_models.training.task.TrainingTask` whose loss is
:func:`~foresight_models.training.flow_matching.ltx_i2v_flow_matching_loss`; what it trains is the
``target``:

- ``"adapter"``: a conditioning adapter (``QueryAdapter``, ``BottleneckAdapter`` or ``PerceiverAdapter``,
  tokens ``(b, n, d_in)`` -> ``(b, k, caption_channels)``) and the conditioning hook's extra key/value
  projections (an :class:`~foresight_models.conditioning.LTXConditioningAdapter`), installed with
  :func:`~foresight_models.conditioning.install_ltx_conditioning`; LTX-Video stays frozen.
- ``"lora"``: a peft LoRA on the transformer's attention projections, exported in diffusers' LoRA
  format (``LTXImageToVideoPipeline.load_lora_weights(directory)`` reads it).
- ``"both"``: the two above together.
- ``"full"``: every transformer weight (small models).

Build one from a config section with :func:`build_ltx_task`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_keys, check_real
from .flow_matching import (
    SIGMA_SAMPLINGS,
    encode_ltx_video,
    ltx_i2v_flow_matching_loss,
    normalize_ltx_latents,
)
from .specs import DTYPES
from .task import TrainingTask

if TYPE_CHECKING:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

__all__ = [
    "LTX_LORA_TARGET_MODULES",
    "LTX_PROMPT_SOURCES",
    "LTX_TARGETS",
    "LTXFlowMatchingTask",
    "LTXLoRALayers",
    "build_ltx_task",
    "check_lora_target_modules",
]

#: What :class:`LTXFlowMatchingTask` can train.
LTX_TARGETS = ("adapter", "lora", "both", "full")
#: Where prompt embeddings come from: the batch (``prompt_embeds``), T5 on ``batch["label"]``, or none.
LTX_PROMPT_SOURCES = ("cached", "label", "none")
#: The default LoRA targets: the attention projections of every block (self- and cross-attention).
LTX_LORA_TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
_ADAPTER_INPUTS = ("tokens", "latents")
_LORA_ADAPTER_NAME = "default"


def check_lora_target_modules(model: nn.Module, target_modules: str | Sequence[str]) -> list[str]:
    """Names of the modules of ``model`` a peft ``LoraConfig(target_modules=...)`` would wrap.

    A list matches a module whose name equals an entry or ends with ``"." + entry`` (peft's rule); a
    string is a regular expression that must match the whole name.

    Raises:
        ValueError: a list entry, or the expression, matches no module (the message lists the
            linear layers there are).
    """
    names = [name for name, _ in model.named_modules() if name]
    if isinstance(target_modules, str):
        matched = [name for name in names if re.fullmatch(target_modules, name)]
        missing = [] if matched else [target_modules]
    else:
        if not isinstance(target_modules, Sequence) or not target_modules:
            raise ValueError(f"lora target_modules: expected a non-empty list of module names, got {target_modules!r}")
        matched, missing = [], []
        for target in target_modules:
            if not isinstance(target, str):
                raise TypeError(f"lora target_modules: expected module names (str), got {target!r}")
            hits = [name for name in names if name == target or name.endswith("." + target)]
            matched += [name for name in hits if name not in matched]
            if not hits:
                missing.append(target)
    if missing:
        linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
        # "to_out.0" rather than "0" for layers inside a ModuleList
        leaves = sorted(
            {
                ".".join(name.split(".")[-2:]) if name.split(".")[-1].isdigit() else name.split(".")[-1]
                for name in linear
            }
        )
        raise ValueError(
            f"lora target_modules: {', '.join(repr(m) for m in missing)} matches no module of "
            f"{type(model).__name__}; its linear layers are named {', '.join(leaves)}"
        )
    return matched


class LTXLoRALayers(nn.Module):
    """The LoRA matrices a peft adapter added to a model, as one module (shared, not copied).

    Its ``state_dict`` holds only the LoRA weights (``<layer>.lora_A.<adapter>.weight`` ...), so that
    checkpoints of a LoRA run do not store the frozen model. ``layer`` names are the wrapped modules'
    names with ``.`` replaced by ``__``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        from peft.tuners.lora import LoraLayer

        self.layers = nn.ModuleDict()
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer):
                self.layers[name.replace(".", "__")] = nn.ModuleDict({"lora_A": module.lora_A, "lora_B": module.lora_B})
        if not self.layers:
            raise ValueError(f"{type(model).__name__} has no LoRA layers; add an adapter first")


class LTXFlowMatchingTask(TrainingTask):
    """Image-to-video flow matching on LTX-Video; trains an adapter, a LoRA, both, or the whole transformer.

    Batches (collated dicts) carry the clip as ``"latents"`` (VAE latents ``(b, c, f, h, w)`` already
    normalised, as :class:`~foresight_models.training.features.LTXVAELatents` writes them to a feature
    cache; used as they are) or ``"frames"`` (uint8 ``(b, t, 3, h, w)`` with ``t = 8k + 1`` frames for
    LTX-Video's VAE, encoded here to the posterior mode and normalised); ``"latents"`` wins when both are present. The
    prompt comes from ``"prompt_embeds"`` ``(b, l, caption_channels)`` + ``"prompt_attention_mask"``
    ``(b, l)`` (``prompt="cached"``), from T5 on ``"label"`` (list of str, ``prompt="label"``) or is
    absent (``prompt="none"``: one zero token). Adapter targets read ``"tokens"`` (encoder tokens
    ``(b, n, d_in)``, or ``(b, t, n, d_in)`` of which frame 0, the conditioning image, is used) with
    ``adapter_input="tokens"``, or the clean latent tokens of frame 0 ``(b, h * w, c)`` with
    ``adapter_input="latents"``.

    Sigmas and noise come from torch's global RNG (seeded by the training loop).

    Args:
        transformer: a diffusers ``LTXVideoTransformer3DModel``.
        vae: its ``AutoencoderKLLTXVideo`` (encoding, latent normalisation, compression ratios), or
            ``None`` when batches carry already-normalised ``"latents"`` (then pass the ratios).
        scheduler: the pipeline's ``FlowMatchEulerDiscreteScheduler`` (sigma shift, timestep scale).
        target: one of :data:`LTX_TARGETS`.
        prompt: one of :data:`LTX_PROMPT_SOURCES`.
        text_encoder, tokenizer: T5 encoder and tokenizer (needed by ``prompt="label"``).
        train_text_encoder: also train the T5 encoder (``prompt="label"`` only; saved as ``text_encoder``).
            A frozen T5 at a random initialisation gives almost the same set of vectors for two labels that
            differ only in word order ("from left to right" / "from right to left"), and LTX-Video's
            cross-attention gives text tokens no position; trained, T5 can tell them apart.
        proportion_empty_prompts: the fraction of training samples whose label is replaced by the empty
            prompt ``""`` (``prompt="label"`` only), so that the model also learns the unconditional
            prediction classifier-free guidance needs (``guidance_scale > 1`` uses ``""`` as the
            negative prompt). Evaluation always uses the labels.
        adapter: the conditioning adapter (``target`` ``"adapter"``/``"both"``).
        conditioning: the hook's projections; default ``LTXConditioningAdapter.from_transformer(transformer)``.
        adapter_input: ``"tokens"`` or ``"latents"`` (see above).
        conditioning_frames, conditioning_strength, conditioning_mode: the hook's ``frames``,
            ``strength`` and ``mode`` (:func:`~foresight_models.conditioning.install_ltx_conditioning`).
        lora_rank, lora_alpha, lora_dropout, lora_target_modules: the LoRA (``target`` ``"lora"``/``"both"``).
        sigma_sampling, logit_mean, logit_std: how flow-matching sigmas are drawn (before the shift).
        frame_rate: frames per second of the training clips (``rope_interpolation_scale``).
        max_sequence_length: T5 tokens per prompt with ``prompt="label"``.
        gradient_checkpointing: enable the transformer's gradient checkpointing.
        spatial_compression_ratio, temporal_compression_ratio: the VAE's ratios when ``vae`` is ``None``.

    Trainable parameters are kept in float32 (a LoRA or adapter next to a bfloat16 transformer);
    ``target="full"`` trains the transformer in its own dtype.
    """

    def __init__(
        self,
        *,
        transformer: LTXVideoTransformer3DModel,
        vae: AutoencoderKLLTXVideo | None,
        scheduler: FlowMatchEulerDiscreteScheduler | None,
        target: str = "lora",
        prompt: str = "none",
        text_encoder: nn.Module | None = None,
        tokenizer: Any = None,
        adapter: nn.Module | None = None,
        conditioning: nn.Module | None = None,
        adapter_input: str = "tokens",
        conditioning_frames: str | Sequence[int] = "first",
        conditioning_strength: float = 1.0,
        conditioning_mode: str = "cross_attention",
        lora_rank: int = 16,
        lora_alpha: float | None = None,
        lora_dropout: float = 0.0,
        lora_target_modules: str | Sequence[str] = LTX_LORA_TARGET_MODULES,
        sigma_sampling: str = "logit_normal",
        logit_mean: float = 0.0,
        logit_std: float = 1.0,
        frame_rate: float = 25.0,
        max_sequence_length: int = 128,
        gradient_checkpointing: bool = False,
        train_text_encoder: bool = False,
        proportion_empty_prompts: float = 0.0,
        spatial_compression_ratio: int | None = None,
        temporal_compression_ratio: int | None = None,
    ):
        super().__init__()
        from diffusers import LTXVideoTransformer3DModel

        if not isinstance(transformer, LTXVideoTransformer3DModel):
            raise TypeError(
                f"transformer: expected a diffusers LTXVideoTransformer3DModel, got {type(transformer).__name__}"
            )
        check_choice(target, "target", LTX_TARGETS)
        check_choice(prompt, "prompt", LTX_PROMPT_SOURCES)
        check_choice(adapter_input, "adapter_input", _ADAPTER_INPUTS)
        check_choice(sigma_sampling, "sigma_sampling", SIGMA_SAMPLINGS)
        check_real(logit_mean, "logit_mean")
        check_real(logit_std, "logit_std", minimum=0.0, min_inclusive=False)
        check_real(frame_rate, "frame_rate", minimum=0.0, min_inclusive=False)
        check_int(max_sequence_length, "max_sequence_length")
        check_bool(gradient_checkpointing, "gradient_checkpointing")
        check_bool(train_text_encoder, "train_text_encoder")
        if train_text_encoder and prompt != "label":
            raise ValueError(f"train_text_encoder: only with prompt='label' (T5 encodes the labels), got prompt={prompt!r}")
        check_real(proportion_empty_prompts, "proportion_empty_prompts", minimum=0.0, maximum=1.0)
        if proportion_empty_prompts > 0 and prompt != "label":
            raise ValueError(
                f"proportion_empty_prompts: only with prompt='label' (labels are replaced by ''), got prompt={prompt!r}"
            )
        if vae is None:
            if spatial_compression_ratio is None or temporal_compression_ratio is None:
                raise ValueError(
                    "vae: without a VAE pass spatial_compression_ratio and temporal_compression_ratio "
                    "(batches must then carry normalised 'latents')"
                )
            check_int(spatial_compression_ratio, "spatial_compression_ratio")
            check_int(temporal_compression_ratio, "temporal_compression_ratio")
        if prompt == "label" and (text_encoder is None or tokenizer is None):
            raise ValueError("prompt='label' needs text_encoder and tokenizer (a T5 encoder and its tokenizer)")
        uses_adapter = target in ("adapter", "both")
        if uses_adapter and adapter is None:
            raise ValueError(f"target={target!r} needs an adapter (tokens (b, n, d_in) -> (b, k, caption_channels))")
        if not uses_adapter and (adapter is not None or conditioning is not None):
            raise ValueError(
                f"adapter and conditioning are only trained with target 'adapter' or 'both', got target={target!r}"
            )

        self.target = target
        self.prompt = prompt
        self.adapter_input = adapter_input
        self.sigma_sampling = sigma_sampling
        self.logit_mean = float(logit_mean)
        self.logit_std = float(logit_std)
        self.frame_rate = float(frame_rate)
        self.max_sequence_length = int(max_sequence_length)
        self.proportion_empty_prompts = float(proportion_empty_prompts)
        self.scheduler = scheduler
        self.tokenizer = tokenizer
        self._text_pipeline = None
        self.spatial_compression_ratio = vae.spatial_compression_ratio if vae is not None else spatial_compression_ratio
        self.temporal_compression_ratio = (
            vae.temporal_compression_ratio if vae is not None else temporal_compression_ratio
        )

        self.transformer = transformer
        self.vae = vae
        self.text_encoder = text_encoder
        for module in (transformer, vae, text_encoder):
            if module is not None:
                module.requires_grad_(False)
                module.eval()
        if gradient_checkpointing:
            transformer.enable_gradient_checkpointing()

        trainable: dict[str, nn.Module] = {}
        self.hooks = None
        self._conditioning_options = {
            "frames": conditioning_frames,
            "strength": conditioning_strength,
            "mode": conditioning_mode,
        }
        if uses_adapter:
            from ..conditioning import LTXConditioningAdapter

            if conditioning is None and conditioning_mode == "cross_attention":
                conditioning = LTXConditioningAdapter.from_transformer(transformer)
            self.adapter = adapter.float().requires_grad_(True)
            trainable["adapter"] = self.adapter
            if conditioning is not None:
                self.conditioning = conditioning.float().requires_grad_(True)
                trainable["conditioning"] = self.conditioning
            else:
                self.conditioning = None
        if target in ("lora", "both"):
            from peft import LoraConfig

            check_int(lora_rank, "lora_rank")
            lora_alpha = (
                lora_rank
                if lora_alpha is None
                else check_real(lora_alpha, "lora_alpha", minimum=0.0, min_inclusive=False)
            )
            check_real(lora_dropout, "lora_dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
            check_lora_target_modules(transformer, lora_target_modules)
            targets = lora_target_modules if isinstance(lora_target_modules, str) else list(lora_target_modules)
            config = LoraConfig(
                r=int(lora_rank),
                lora_alpha=lora_alpha,
                lora_dropout=float(lora_dropout),
                init_lora_weights=True,
                target_modules=targets,
            )
            transformer.add_adapter(config, adapter_name=_LORA_ADAPTER_NAME)
            self.lora = LTXLoRALayers(transformer)
            self.lora.float().requires_grad_(True)
            trainable["lora"] = self.lora
        if target == "full":
            transformer.requires_grad_(True)
            trainable["transformer"] = transformer
        self.train_text_encoder = bool(train_text_encoder)
        if self.train_text_encoder:
            trainable["text_encoder"] = text_encoder.requires_grad_(True)
        self.trainable = trainable

    # -- TrainingTask -------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> LTXFlowMatchingTask:
        """Train mode for the trained modules only; the VAE and the text encoder stay in eval mode (no
        dropout in T5, also when it is trained)."""
        super().train(mode)
        for module in (self.vae, self.text_encoder):
            if module is not None:
                module.eval()
        if self.target not in ("lora", "both", "full"):
            self.transformer.eval()
        return self

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar, "sigma": mean sigma}`` of one batch (see the class docstring for its keys)."""
        output = self.flow_matching(batch)
        return {"loss": output.loss, "sigma": output.sigmas.mean().detach()}

    @torch.no_grad()
    def evaluate(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """The loss at a fixed draw of sigmas and noise (seed 0), comparable across evaluations."""
        device = self.transformer.device
        generator = torch.Generator(device=device).manual_seed(0)
        return {"loss": float(self.flow_matching(batch, generator=generator).loss)}

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Export what was trained into ``directory``.

        - a LoRA: ``directory/pytorch_lora_weights.safetensors`` in diffusers' format, with its peft
          config as metadata (``LTXImageToVideoPipeline.load_lora_weights(directory)``);
        - an adapter: ``directory/adapter`` and ``directory/conditioning`` (``save_pretrained`` folders);
        - the full transformer: ``directory/transformer``;
        - a trained text encoder: ``directory/text_encoder``.
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        for name, module in self.trainable.items():
            if name == "lora":
                self.save_lora(directory)
            else:
                module.save_pretrained(os.path.join(directory, name))

    # -- pieces -------------------------------------------------------------------------------------

    def save_lora(self, directory: str | os.PathLike) -> None:
        """Write the LoRA as diffusers' ``LTXImageToVideoPipeline.save_lora_weights`` does."""
        from diffusers import LTXImageToVideoPipeline
        from peft import get_peft_model_state_dict

        if "lora" not in self.trainable:
            raise ValueError(f"this task trains no LoRA (target={self.target!r})")
        state = get_peft_model_state_dict(self.transformer, adapter_name=_LORA_ADAPTER_NAME)
        metadata = self.transformer.peft_config[_LORA_ADAPTER_NAME].to_dict()
        LTXImageToVideoPipeline.save_lora_weights(
            os.fspath(directory), transformer_lora_layers=state, transformer_lora_adapter_metadata=metadata
        )

    def clip_latents(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Normalised latents ``(b, c, f, h, w)`` of the batch's clips (from ``"latents"`` or ``"frames"``)."""
        device = self.transformer.device
        if "latents" in batch:
            latents = batch["latents"]
            if not isinstance(latents, torch.Tensor) or latents.ndim != 5:
                raise ValueError(
                    f"batch['latents']: expected a tensor (b, c, f, h, w), got {getattr(latents, 'shape', type(latents).__name__)}"
                )
            return latents.to(device).float()
        if "frames" not in batch:
            raise ValueError(f"batch: expected a 'latents' or a 'frames' entry, got keys {sorted(batch)}")
        if self.vae is None:
            raise ValueError("batch['frames'] needs the task's vae to encode them; this task has none")
        with torch.no_grad():
            latents = encode_ltx_video(self.vae, batch["frames"].to(device))
        return normalize_ltx_latents(latents.float(), self.vae)

    def prompt_embeddings(
        self, batch: Mapping[str, Any], batch_size: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(prompt_embeds (b, l, caption_channels), prompt_attention_mask (b, l))``, or ``(None, None)``."""
        device = self.transformer.device
        if self.prompt == "none":
            return None, None
        if self.prompt == "cached":
            for key in ("prompt_embeds", "prompt_attention_mask"):
                if key not in batch:
                    raise ValueError(f"batch: prompt='cached' needs a {key!r} entry, got keys {sorted(batch)}")
            return batch["prompt_embeds"].to(device), batch["prompt_attention_mask"].to(device)
        if "label" not in batch:
            raise ValueError(f"batch: prompt='label' needs a 'label' entry (list of str), got keys {sorted(batch)}")
        labels = batch["label"]
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(labels) != batch_size:
            raise ValueError(f"batch['label']: expected {batch_size} strings, got {len(labels)}")
        if self.training and self.proportion_empty_prompts > 0:
            # drawn from the global RNG, which the trainer seeds and restores on resume
            empty = torch.rand(len(labels)) < self.proportion_empty_prompts
            labels = ["" if drop else label for label, drop in zip(labels, empty.tolist())]
        if self._text_pipeline is None:
            from diffusers import LTXImageToVideoPipeline

            # only its prompt encoding is used: T5 exactly as the pipeline runs it at inference
            self._text_pipeline = LTXImageToVideoPipeline(
                scheduler=None, vae=None, text_encoder=self.text_encoder, tokenizer=self.tokenizer, transformer=None
            )
        with contextlib.nullcontext() if self.train_text_encoder else torch.no_grad():
            embeds, mask, _, _ = self._text_pipeline.encode_prompt(
                prompt=labels,
                do_classifier_free_guidance=False,
                max_sequence_length=self.max_sequence_length,
                device=device,
            )
        return embeds, mask

    def adapter_tokens(self, batch: Mapping[str, Any], latents: torch.Tensor) -> Any:
        """The adapter's output for the batch (its input chosen by ``adapter_input``)."""
        device = self.transformer.device
        if self.adapter_input == "latents":
            from diffusers import LTXImageToVideoPipeline

            config = self.transformer.config
            first = latents[:, :, :1]
            inputs = LTXImageToVideoPipeline._pack_latents(first, config.patch_size, config.patch_size_t)
        else:
            if "tokens" not in batch:
                raise ValueError(f"batch: adapter_input='tokens' needs a 'tokens' entry, got keys {sorted(batch)}")
            inputs = batch["tokens"].to(device)
            if inputs.ndim == 4:  # (b, t, n, d): the conditioning image is frame 0
                inputs = inputs[:, 0]
        dtype = next(self.adapter.parameters()).dtype
        return self.adapter(inputs.to(dtype))

    def flow_matching(self, batch: Mapping[str, Any], *, generator: torch.Generator | None = None):
        """:func:`ltx_i2v_flow_matching_loss` on the batch (an :class:`LTXFlowMatchingOutput`)."""
        latents = self.clip_latents(batch)
        prompt_embeds, prompt_mask = self.prompt_embeddings(batch, latents.shape[0])
        if "adapter" in self.trainable:
            output = self.adapter_tokens(batch, latents)
            self._conditioning_hooks().set_tokens(output.tokens, output.mask)
        return ltx_i2v_flow_matching_loss(
            self.transformer,
            latents,
            prompt_embeds=prompt_embeds,
            prompt_attention_mask=prompt_mask,
            spatial_compression_ratio=self.spatial_compression_ratio,
            temporal_compression_ratio=self.temporal_compression_ratio,
            normalize=False,
            scheduler=self.scheduler,
            generator=generator,
            sampling=self.sigma_sampling,
            logit_mean=self.logit_mean,
            logit_std=self.logit_std,
            frame_rate=self.frame_rate,
        )

    def _conditioning_hooks(self):
        # Installed once and kept: with gradient checkpointing the backward pass re-runs the blocks and
        # must find the same attention processors.
        if self.hooks is None or not self.hooks.installed:
            from ..conditioning import install_ltx_conditioning

            caption = self.transformer.config.caption_channels
            placeholder = torch.zeros(1, 1, caption, device=self.transformer.device)
            self.hooks = install_ltx_conditioning(
                self.transformer, placeholder, self.conditioning, **self._conditioning_options
            )
        return self.hooks

    def remove_conditioning(self) -> None:
        """Remove the conditioning hooks from the transformer (they are installed again at the next loss)."""
        if self.hooks is not None:
            self.hooks.remove()
            self.hooks = None


# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------

_SECTION_KEYS = {
    "name": "'ltx'",
    "model": "'tiny' or a diffusers LTX-Video folder / Hub id",
    "vae": "a VAE folder (or a folder with a 'vae' subfolder) used instead of model's VAE",
    "transformer": "a transformer folder (or a folder with a 'transformer' subfolder) to start from instead of model's",
    "text_encoder": "a T5 encoder folder (or a folder with a 'text_encoder' subfolder) used instead of model's (prompt 'label' only)",
    "train_text_encoder": "true to train the T5 encoder too (prompt 'label' only)",
    "proportion_empty_prompts": "fraction of labels replaced by '' in training, for classifier-free guidance (prompt 'label' only)",
    "target": f"one of {LTX_TARGETS}",
    "prompt": f"one of {LTX_PROMPT_SOURCES}",
    "lora": "{rank, alpha, dropout, target_modules}",
    "adapter": "{kind, input, d_in, num_tokens, target_params, ... constructor arguments}",
    "conditioning": "{frames, strength, mode, init}",
    "sigma": "{sampling, logit_mean, logit_std}",
    "frame_rate": "frames per second of the clips",
    "max_sequence_length": "T5 tokens per prompt",
    "gradient_checkpointing": "bool",
    "dtype": "'float32', 'bfloat16' or 'float16' (loaded components)",
    "local_files_only": "bool",
    "seed": "int: tiny weights and adapter initialisation",
    "tiny": "{num_layers}",
}
_SUBSECTION_KEYS = {
    "lora": ("rank", "alpha", "dropout", "target_modules"),
    "conditioning": ("frames", "strength", "mode", "init"),
    "sigma": ("sampling", "logit_mean", "logit_std"),
    "tiny": ("num_layers",),
}


def _adapter_classes() -> dict[str, type]:
    from ..models.adapters import BottleneckAdapter, PerceiverAdapter, QueryAdapter

    return {"query": QueryAdapter, "bottleneck": BottleneckAdapter, "perceiver": PerceiverAdapter}


def _build_adapter(options: Mapping[str, Any], *, caption_channels: int, latent_width: int) -> tuple[nn.Module, str]:
    from ..models.adapters import build_adapter

    options = dict(options)
    kind = check_choice(options.pop("kind", "query"), "task.adapter.kind", tuple(_adapter_classes()))
    adapter_input = check_choice(options.pop("input", "tokens"), "task.adapter.input", _ADAPTER_INPUTS)
    d_in = options.pop("d_in", None)
    if adapter_input == "latents":
        if d_in is not None and d_in != latent_width:
            raise ValueError(f"task.adapter.d_in: input='latents' has width {latent_width}, got d_in={d_in!r}")
        d_in = latent_width
    elif d_in is None:
        raise ValueError("task.adapter.d_in: required with input='tokens' (the width of batch['tokens'])")
    check_int(d_in, "task.adapter.d_in")
    if "d_out" in options and options["d_out"] != caption_channels:
        raise ValueError(
            f"task.adapter.d_out: must be the transformer's caption_channels {caption_channels}, got {options['d_out']!r}"
        )
    options["d_out"] = caption_channels
    if "target_params" in options:
        return build_adapter(kind, d_in=d_in, **options), adapter_input
    try:
        return _adapter_classes()[kind](d_in=d_in, **options), adapter_input
    except TypeError as error:
        raise ValueError(f"task.adapter: {error}") from None


def build_ltx_task(section: Mapping[str, Any]) -> LTXFlowMatchingTask:
    """An :class:`LTXFlowMatchingTask` from the ``task`` section of a run config.

    Keys (all optional but ``model``)::

        name: ltx
        model: tiny                      # or a diffusers LTX-Video folder / Hub id (transformer, vae, scheduler[, text_encoder, tokenizer])
        vae: runs/vae/final/vae          # optional: a VAE trained separately (task 'vae'), instead of model's
        transformer: runs/ltx/final/transformer   # optional: continue training this transformer instead of model's
        text_encoder: runs/ltx/final/text_encoder # optional (prompt: label): start from this T5 instead of model's
        train_text_encoder: false        # true: T5 trains too (prompt: label), saved as text_encoder
        proportion_empty_prompts: 0.0    # labels replaced by "" in training (prompt: label), for guidance
        target: lora                     # adapter | lora | both | full
        prompt: none                     # cached (batch prompt_embeds) | label (T5 on batch label) | none
        lora: {rank: 16, alpha: 16, dropout: 0.0, target_modules: [to_q, to_k, to_v, to_out.0]}
        adapter: {kind: query, input: tokens, d_in: 3584, num_tokens: 32, target_params: 10000000}
        conditioning: {frames: first, strength: 1.0, mode: cross_attention, init: copy}
        sigma: {sampling: logit_normal, logit_mean: 0.0, logit_std: 1.0}
        frame_rate: 25
        max_sequence_length: 128
        gradient_checkpointing: false
        dtype: float32                   # of the loaded components
        local_files_only: false
        seed: 0                          # tiny weights, LoRA / adapter initialisation
        tiny: {num_layers: 2}            # size of the tiny transformer

    ``adapter`` takes the arguments of the adapter class of ``kind`` (``dim``, ``depth``, ``heads``...),
    or ``target_params`` to size it with :func:`~foresight_models.models.adapters.build_adapter`; its
    ``d_out`` is the transformer's ``caption_channels``. Every key is validated before any model is
    built or loaded.

    Raises:
        ValueError / TypeError: an unknown key, a value out of range, a LoRA target that matches no
            module, or a checkpoint that cannot be found (the message names it).
    """
    check_keys(section, "task", tuple(_SECTION_KEYS))
    for key, allowed in _SUBSECTION_KEYS.items():
        if key in section:
            check_keys(section[key], f"task.{key}", allowed)
    if "adapter" in section and not isinstance(section["adapter"], Mapping):
        raise TypeError(f"task.adapter: expected a mapping, got {type(section['adapter']).__name__}")
    if section.get("name", "ltx") != "ltx":
        raise ValueError(f"task.name: expected 'ltx', got {section['name']!r}")
    if "model" not in section:
        raise ValueError("task.model: required: 'tiny' or a diffusers LTX-Video folder / Hub id")
    model = section["model"]
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"task.model: expected 'tiny' or a folder / Hub id, got {model!r}")
    target = check_choice(section.get("target", "lora"), "task.target", LTX_TARGETS)
    prompt = check_choice(section.get("prompt", "none"), "task.prompt", LTX_PROMPT_SOURCES)
    uses_adapter = target in ("adapter", "both")
    if uses_adapter and "adapter" not in section:
        raise ValueError(f"task.adapter: required with target={target!r}")
    if not uses_adapter:
        for key in ("adapter", "conditioning"):
            if key in section:
                raise ValueError(f"task.{key}: only used with target 'adapter' or 'both', got target={target!r}")
    if target not in ("lora", "both") and "lora" in section:
        raise ValueError(f"task.lora: only used with target 'lora' or 'both', got target={target!r}")
    lora = dict(section.get("lora", {}))
    conditioning = dict(section.get("conditioning", {}))
    sigma = dict(section.get("sigma", {}))
    seed = check_int(section.get("seed", 0), "task.seed", minimum=0)
    dtype_name = check_choice(section.get("dtype", "float32"), "task.dtype", tuple(DTYPES))
    local_files_only = check_bool(section.get("local_files_only", False), "task.local_files_only")
    gradient_checkpointing = check_bool(section.get("gradient_checkpointing", False), "task.gradient_checkpointing")
    train_text_encoder = check_bool(section.get("train_text_encoder", False), "task.train_text_encoder")
    if train_text_encoder and prompt != "label":
        raise ValueError(f"task.train_text_encoder: only with prompt 'label' (T5 encodes the labels), got {prompt!r}")
    if "text_encoder" in section and prompt != "label":
        raise ValueError(f"task.text_encoder: only with prompt 'label' (T5 encodes the labels), got {prompt!r}")
    proportion_empty_prompts = check_real(
        section.get("proportion_empty_prompts", 0.0), "task.proportion_empty_prompts", minimum=0.0, maximum=1.0
    )
    if proportion_empty_prompts > 0 and prompt != "label":
        raise ValueError(
            f"task.proportion_empty_prompts: only with prompt 'label' (labels are replaced by ''), got {prompt!r}"
        )
    check_choice(sigma.get("sampling", "logit_normal"), "task.sigma.sampling", SIGMA_SAMPLINGS)
    check_real(sigma.get("logit_mean", 0.0), "task.sigma.logit_mean")
    check_real(sigma.get("logit_std", 1.0), "task.sigma.logit_std", minimum=0.0, min_inclusive=False)
    check_real(section.get("frame_rate", 25), "task.frame_rate", minimum=0.0, min_inclusive=False)
    check_int(section.get("max_sequence_length", 128), "task.max_sequence_length")
    check_int(lora.get("rank", 16), "task.lora.rank")
    if "alpha" in lora:
        check_real(lora["alpha"], "task.lora.alpha", minimum=0.0, min_inclusive=False)
    check_real(lora.get("dropout", 0.0), "task.lora.dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
    check_real(conditioning.get("strength", 1.0), "task.conditioning.strength", minimum=0.0)
    check_choice(conditioning.get("mode", "cross_attention"), "task.conditioning.mode", ("cross_attention", "prompt"))
    init = check_choice(conditioning.get("init", "copy"), "task.conditioning.init", ("copy", "random"))
    if model != "tiny" and "tiny" in section:
        raise ValueError(f"task.tiny: only used with model='tiny', got model={model!r}")
    if uses_adapter:
        import inspect

        options = section["adapter"]
        kind = check_choice(options.get("kind", "query"), "task.adapter.kind", tuple(_adapter_classes()))
        allowed = ["kind", "input", "d_in", "target_params"]
        allowed += [
            name
            for name in inspect.signature(_adapter_classes()[kind].__init__).parameters
            if name not in ("self", "d_in")
        ]
        check_keys(options, "task.adapter", allowed)
        if options.get("input", "tokens") == "tokens" and "d_in" not in options:
            raise ValueError("task.adapter.d_in: required with input='tokens' (the width of batch['tokens'])")

    components = _load_components(
        model,
        seed=seed,
        text=prompt == "label",
        dtype=DTYPES[dtype_name],
        local_files_only=local_files_only,
        num_layers=section.get("tiny", {}).get("num_layers", 2),
    )
    if "vae" in section:
        from .vae import load_ltx_vae

        vae = section["vae"]
        if not isinstance(vae, (str, os.PathLike)) or not os.fspath(vae):
            raise TypeError(f"task.vae: expected a VAE folder, got {vae!r}")
        components["vae"] = load_ltx_vae(vae, local_files_only=local_files_only)
        if DTYPES[dtype_name] != torch.float32:
            components["vae"] = components["vae"].to(DTYPES[dtype_name])
    loading = dict(dtype=DTYPES[dtype_name], local_files_only=local_files_only)
    if "transformer" in section:
        from diffusers import LTXVideoTransformer3DModel

        components["transformer"] = _load_trained_component(
            "transformer", section["transformer"], LTXVideoTransformer3DModel, what="an LTX-Video transformer",
            folder="a transformer folder", dtype_argument="torch_dtype", **loading,
        )  # fmt: skip
    if "text_encoder" in section:
        from transformers import T5EncoderModel

        components["text_encoder"] = _load_trained_component(
            "text_encoder", section["text_encoder"], T5EncoderModel, what="a T5 encoder",
            folder="a T5 encoder folder", dtype_argument="dtype", **loading,
        )  # fmt: skip
    transformer = components["transformer"]
    adapter = conditioning_adapter = None
    adapter_input = "tokens"
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if uses_adapter:
            from ..conditioning import LTXConditioningAdapter

            latent_width = (
                transformer.config.in_channels * transformer.config.patch_size**2 * transformer.config.patch_size_t
            )
            adapter, adapter_input = _build_adapter(
                section["adapter"], caption_channels=transformer.config.caption_channels, latent_width=latent_width
            )
            if conditioning.get("mode", "cross_attention") == "cross_attention":
                conditioning_adapter = LTXConditioningAdapter.from_transformer(
                    transformer, init=init, dtype=torch.float32
                )
        return LTXFlowMatchingTask(
            transformer=transformer,
            vae=components["vae"],
            scheduler=components["scheduler"],
            text_encoder=components.get("text_encoder"),
            tokenizer=components.get("tokenizer"),
            target=target,
            prompt=prompt,
            adapter=adapter,
            conditioning=conditioning_adapter,
            adapter_input=adapter_input,
            conditioning_frames=conditioning.get("frames", "first"),
            conditioning_strength=conditioning.get("strength", 1.0),
            conditioning_mode=conditioning.get("mode", "cross_attention"),
            lora_rank=lora.get("rank", 16),
            lora_alpha=lora.get("alpha"),
            lora_dropout=lora.get("dropout", 0.0),
            lora_target_modules=lora.get("target_modules", LTX_LORA_TARGET_MODULES),
            sigma_sampling=sigma.get("sampling", "logit_normal"),
            logit_mean=sigma.get("logit_mean", 0.0),
            logit_std=sigma.get("logit_std", 1.0),
            frame_rate=section.get("frame_rate", 25),
            max_sequence_length=section.get("max_sequence_length", 128),
            gradient_checkpointing=gradient_checkpointing,
            train_text_encoder=train_text_encoder,
            proportion_empty_prompts=proportion_empty_prompts,
        )
    finally:
        torch.random.set_rng_state(generator_state)


def _load_trained_component(
    key: str, location: Any, model_class: Any, *, what: str, folder: str, dtype_argument: str, **kwargs: Any
) -> nn.Module:
    """``model_class.from_pretrained`` on a component folder, or a folder with a ``key`` subfolder (the
    task's ``transformer:`` / ``text_encoder:`` keys); ``dtype_argument`` names the library's dtype
    keyword (diffusers ``torch_dtype``, transformers ``dtype``), whose value is ``kwargs["dtype"]``."""
    if not isinstance(location, (str, os.PathLike)) or not os.fspath(location):
        raise TypeError(f"task.{key}: expected {folder}, got {location!r}")
    location = os.fspath(location)
    subfolder = {"subfolder": key} if os.path.isdir(os.path.join(location, key)) else {}
    kwargs[dtype_argument] = kwargs.pop("dtype")
    try:
        return model_class.from_pretrained(location, **subfolder, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"task.{key}: cannot load {what} from {location!r} ({folder}, or a folder with a '{key}' "
            f"subfolder): {error}"
        ) from error


def _load_components(
    model: str | os.PathLike, *, seed: int, text: bool, dtype: torch.dtype, local_files_only: bool, num_layers: Any
) -> dict[str, Any]:
    """Transformer, VAE, scheduler (+ T5 encoder and tokenizer when ``text``): tiny, or loaded from ``model``."""
    if model == "tiny":
        from .. import testing

        check_int(num_layers, "task.tiny.num_layers")
        components: dict[str, Any] = {
            "transformer": testing.tiny_ltx_transformer(seed, num_layers=num_layers),
            "vae": testing.tiny_ltx_vae(seed),
            "scheduler": testing.tiny_ltx_scheduler(),
        }
        if text:
            components["text_encoder"] = testing.tiny_t5_encoder(seed)
            components["tokenizer"] = testing.tiny_t5_tokenizer()
        if dtype != torch.float32:
            for name in ("transformer", "vae", "text_encoder"):
                if name in components:
                    components[name] = components[name].to(dtype)
        return components

    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    location = os.fspath(model)
    kwargs = {"local_files_only": local_files_only}
    loaders = {
        "transformer": lambda: LTXVideoTransformer3DModel.from_pretrained(
            location, subfolder="transformer", torch_dtype=dtype, **kwargs
        ),
        "vae": lambda: AutoencoderKLLTXVideo.from_pretrained(location, subfolder="vae", torch_dtype=dtype, **kwargs),
        "scheduler": lambda: FlowMatchEulerDiscreteScheduler.from_pretrained(location, subfolder="scheduler", **kwargs),
    }
    if text:
        from transformers import T5EncoderModel, T5TokenizerFast

        loaders["text_encoder"] = lambda: T5EncoderModel.from_pretrained(
            location, subfolder="text_encoder", dtype=dtype, **kwargs
        )
        loaders["tokenizer"] = lambda: T5TokenizerFast.from_pretrained(location, subfolder="tokenizer", **kwargs)
    components = {}
    for name, load in loaders.items():
        try:
            components[name] = load()
        except (OSError, ValueError) as error:
            raise ValueError(
                f"task.model: cannot load the LTX-Video {name} from {location!r} (a diffusers LTX-Video folder or Hub id "
                f"with a '{name}' subfolder, e.g. 'Lightricks/LTX-Video'): {error}"
            ) from error
    return components
