"""LoRAAdapter: a peft LoRA on a Qwen2.5-VL language model, plus a projection of one layer's hidden
states to the video model's conditioning width.

A LoRA of rank ``r`` on ``q_proj`` / ``v_proj`` adds ``r * (in + out)`` parameters per adapted
layer; :meth:`LoRAAdapter.rank_for_budget` picks the rank for a parameter budget. The sizes used in
the study behind this library are in ``docs/research.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from .._validation import check_int, check_probability, check_real
from .adapter_common import LTX_CAPTION_CHANNELS, AdapterOutput, check_sizes, check_tokens_and_mask
from .modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = ["LoRAAdapter"]

_PEFT_CONFIG_FILE = "adapter_config.json"
_PEFT_WEIGHTS_FILE = "adapter_model.safetensors"


def _multimodal_model(vlm: nn.Module) -> nn.Module:
    """The ``Qwen2_5_VLModel`` (vision tower + language model, no LM head) of ``vlm``."""
    return getattr(vlm, "model", vlm)


def _language_model(vlm: nn.Module) -> nn.Module:
    """The text decoder of a Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration`` or ``Qwen2_5_VLModel``)."""
    language_model = getattr(_multimodal_model(vlm), "language_model", None)
    if not isinstance(language_model, nn.Module):
        raise TypeError(
            f"vlm must be a Qwen2.5-VL model with a `.model.language_model` text decoder "
            f"(e.g. transformers.Qwen2_5_VLForConditionalGeneration), got {type(vlm).__name__}"
        )
    return language_model


def _text_hidden_size(vlm: nn.Module) -> int:
    config = getattr(vlm, "config", None)
    text_config = getattr(config, "text_config", config)
    hidden = getattr(text_config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise TypeError(f"vlm must carry a transformers config with text_config.hidden_size, got {type(vlm).__name__}")
    return hidden


def _target_pattern(target_modules, language_model_only: bool) -> str:
    """Regular expression (peft full-match on module names) for the modules named ``target_modules``,
    inside a ``language_model`` submodule when ``language_model_only``; matches whole name components,
    so ``q_proj`` never matches ``x_q_proj``, and works on the full model and on ``Qwen2_5_VLModel``."""
    names = "|".join(re.escape(t) for t in target_modules)
    scope = r"(.*\.)?language_model\.(.*\.)?" if language_model_only else r"(.*\.)?"
    return rf"{scope}({names})"


class LoRAAdapter(ForesightModelMixin, ConfigMixin):
    """A peft LoRA on a Qwen2.5-VL's language model, read out at hidden-state ``layer`` and projected
    (``LayerNorm -> Linear``) to ``d_out``.

    The adapter's own weights are the projection; the VLM is attached with :meth:`attach` (or
    ``from_pretrained(dir, vlm=...)``), which wraps it in a ``peft.PeftModel`` whose LoRA weights are
    the only trainable VLM parameters. :meth:`save_pretrained` writes the projection
    (``config.json`` + safetensors) and, beside it, the LoRA in peft's own format
    (``adapter_config.json`` + ``adapter_model.safetensors``).

    Call: ``tokens (b, n, d_in)`` are input embeddings of the language model (``d_in`` its hidden
    size), ``mask (b, n)`` its attention mask -> ``AdapterOutput(tokens (b, n, d_out), mask (b, n))``;
    masked positions of the output are zero. :meth:`encode` runs the whole VLM on processor outputs
    (text and images) instead.

    Args:
        d_in: hidden size of the language model (3584 for Qwen2.5-VL-7B).
        d_out: width of the output tokens.
        layer: index into the language model's ``hidden_states`` (0 = embeddings, -1 = final, normed).
        r, lora_alpha, lora_dropout: LoRA rank, scaling numerator and dropout.
        target_modules: names of the linear layers that get a LoRA.
        language_model_only: restrict the LoRA to the language model (not the vision tower).
    """

    _modules_saved_elsewhere = ("peft_model",)  # the VLM and its LoRA (peft format, beside the projection)

    @register_to_config
    def __init__(
        self,
        *,
        d_in: int,
        d_out: int = LTX_CAPTION_CHANNELS,
        layer: int = -1,
        r: int = 64,
        lora_alpha: float = 128.0,
        lora_dropout: float = 0.0,
        target_modules: tuple[str, ...] | list[str] = ("q_proj", "v_proj"),
        language_model_only: bool = True,
    ):
        super().__init__()
        check_sizes(d_in=d_in, d_out=d_out, r=r)
        check_int(layer, "layer (an index into the language model's hidden states)", minimum=None, plain=True)
        check_real(lora_alpha, "lora_alpha", minimum=0.0, min_inclusive=False)
        check_probability(lora_dropout, "lora_dropout")
        if (
            isinstance(target_modules, str)
            or not target_modules
            or not all(isinstance(t, str) and t for t in target_modules)
        ):
            raise ValueError(f"target_modules must be a non-empty list of module names, got {target_modules!r}")
        self.norm = nn.LayerNorm(d_in)
        self.proj = nn.Linear(d_in, d_out)
        self.register_module("peft_model", None)  # set by attach(); never part of the saved state dict
        self._lora_dir: str | None = None

    # ------------------------------------------------------------------ LoRA configuration

    def target_pattern(self) -> str:
        """The regular expression (peft full-match on module names) selecting the LoRA'd layers."""
        return _target_pattern(self.config.target_modules, self.config.language_model_only)

    def lora_config(self):
        """The ``peft.LoraConfig`` this adapter applies."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.config.r,
            lora_alpha=self.config.lora_alpha,
            lora_dropout=self.config.lora_dropout,
            target_modules=self.target_pattern(),
            bias="none",
        )

    @staticmethod
    def lora_parameters_per_rank(vlm: nn.Module, pattern: str) -> int:
        """Trainable LoRA parameters per unit of rank: ``sum(in + out)`` over linear layers matching ``pattern``."""
        return sum(
            m.in_features + m.out_features
            for name, m in vlm.named_modules()
            if isinstance(m, nn.Linear) and re.fullmatch(pattern, name)
        )

    @classmethod
    def rank_for_budget(
        cls,
        vlm: nn.Module,
        target_params: int,
        *,
        target_modules: tuple[str, ...] = ("q_proj", "v_proj"),
        language_model_only: bool = True,
    ) -> int:
        """The LoRA rank whose parameter count on ``vlm`` is closest to ``target_params`` (works on meta)."""
        per_rank = cls.lora_parameters_per_rank(vlm, _target_pattern(target_modules, language_model_only))
        if per_rank == 0:
            raise ValueError(f"no linear layer of {type(vlm).__name__} matches target_modules={list(target_modules)}")
        if check_int(target_params, "target_params") < per_rank:
            raise ValueError(
                f"target_params must be at least {per_rank:,} (rank 1 on these modules), got {target_params!r}"
            )
        return round(target_params / per_rank)

    # ------------------------------------------------------------------ attaching the VLM

    def attach(self, vlm: nn.Module, lora_path: str | os.PathLike | None = None, *, low_cpu_mem_usage: bool = False):
        """Wrap ``vlm`` in a ``peft.PeftModel`` carrying this adapter's LoRA and return that wrapper.

        The LoRA is loaded from ``lora_path`` (a folder in peft's format) or, when the adapter came
        from ``from_pretrained``, from that folder; otherwise it is freshly initialised (``B = 0``, so
        the VLM's outputs are unchanged). ``vlm`` is modified in place; all its own weights are frozen.
        ``low_cpu_mem_usage`` creates fresh LoRA weights on the meta device (for counting).
        """
        from peft import PeftModel, get_peft_model

        if self.peft_model is not None:
            raise ValueError("a VLM is already attached to this LoRAAdapter; build a new adapter for another VLM")
        if not isinstance(vlm, nn.Module):
            raise TypeError(f"vlm must be a torch.nn.Module, got {type(vlm).__name__}")
        num_layers = len(_language_model(vlm).layers)
        hidden = _text_hidden_size(vlm)
        if hidden != self.config.d_in:
            raise ValueError(f"vlm language-model hidden size is {hidden}, but the adapter has d_in={self.config.d_in}")
        if not -(num_layers + 1) <= self.config.layer <= num_layers:
            raise ValueError(
                f"layer={self.config.layer} is out of range for the {num_layers + 1} hidden states of this "
                f"language model (-{num_layers + 1}..{num_layers})"
            )
        lora_path = lora_path if lora_path is not None else self._lora_dir
        if lora_path is not None:
            self._check_saved_lora(lora_path)
            peft_model = PeftModel.from_pretrained(vlm, lora_path, is_trainable=True)
        else:
            peft_model = get_peft_model(vlm, self.lora_config(), low_cpu_mem_usage=low_cpu_mem_usage)
        self.peft_model = peft_model
        self._lora_dir = None  # the LoRA now lives in (and is saved from) the attached VLM
        return peft_model

    def _check_saved_lora(self, lora_path: str | os.PathLike) -> None:
        """Raise unless ``lora_path`` holds a peft LoRA with this adapter's rank, alpha and target modules."""
        config_file = os.path.join(lora_path, _PEFT_CONFIG_FILE)
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"lora_path: no peft LoRA ({_PEFT_CONFIG_FILE}) in {os.fspath(lora_path)!r}")
        with open(config_file, encoding="utf-8") as f:
            saved = json.load(f)
        expected = {"r": self.config.r, "lora_alpha": self.config.lora_alpha, "target_modules": self.target_pattern()}
        different = {k: saved.get(k) for k, v in expected.items() if saved.get(k) != v}
        if different:
            raise ValueError(
                f"lora_path: the LoRA in {os.fspath(lora_path)!r} has {different}, but this adapter is configured "
                f"with { {k: expected[k] for k in different} }"
            )

    def _require_vlm(self) -> nn.Module:
        if self.peft_model is None:
            raise RuntimeError("no VLM attached: call adapter.attach(vlm) or LoRAAdapter.from_pretrained(dir, vlm=vlm)")
        return self.peft_model.get_base_model()

    def merge(self) -> None:
        """Add the LoRA deltas into the VLM's weights (faster inference; same outputs)."""
        self._require_vlm()
        self.peft_model.merge_adapter()

    def unmerge(self) -> None:
        """Undo :meth:`merge`."""
        self._require_vlm()
        self.peft_model.unmerge_adapter()

    def detach(self, *, merge: bool = False) -> nn.Module:
        """Take the LoRA layers out of the VLM and return the plain VLM (with the LoRA folded into its
        weights when ``merge``). The adapter keeps its projection and has no VLM attached afterwards."""
        self._require_vlm()
        vlm = self.peft_model.merge_and_unload() if merge else self.peft_model.unload()
        self._modules["peft_model"] = None
        return vlm

    # ------------------------------------------------------------------ forward

    def _project(self, hidden_states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> AdapterOutput:
        h = hidden_states[self.config.layer].to(self.proj.weight.dtype)  # layer range checked by attach()
        out = self.proj(self.norm(h)) * mask[..., None].to(h.dtype)
        return AdapterOutput(tokens=out, mask=mask)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> AdapterOutput:
        """``tokens (b, n, d_in)`` input embeddings, ``mask (b, n)`` -> ``AdapterOutput(tokens (b, n, d_out), mask)``."""
        language_model = _language_model(self._require_vlm())
        tokens, mask = check_tokens_and_mask(tokens, mask, d_in=self.config.d_in, dtype=language_model.dtype)
        outputs = language_model(
            inputs_embeds=tokens, attention_mask=mask.long(), output_hidden_states=True, use_cache=False
        )
        return self._project(outputs.hidden_states, mask)

    def encode(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **vlm_inputs):
        """Run the whole VLM on processor outputs (``input_ids``, ``attention_mask``, ``pixel_values``,
        ``image_grid_thw``, ...) -> ``AdapterOutput(tokens (b, n, d_out), mask (b, n))``."""
        vlm = self._require_vlm()
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        outputs = _multimodal_model(vlm)(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False, **vlm_inputs
        )
        return self._project(outputs.hidden_states, attention_mask.bool())

    # ------------------------------------------------------------------ saving and loading

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Save the projection (diffusers format) and the LoRA beside it (peft format): that of the
        attached VLM, or, with none attached, the LoRA this adapter was loaded with (copied unchanged)."""
        peft_model = self._modules["peft_model"]
        self._modules["peft_model"] = None
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self._modules["peft_model"] = peft_model
        if not kwargs.get("is_main_process", True):
            return
        if peft_model is not None:
            peft_model.save_pretrained(os.fspath(save_directory), safe_serialization=True)
        elif self._lora_dir is not None and not os.path.samefile(self._lora_dir, save_directory):
            for name in (_PEFT_CONFIG_FILE, _PEFT_WEIGHTS_FILE):
                shutil.copyfile(os.path.join(self._lora_dir, name), os.path.join(save_directory, name))

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *, vlm: nn.Module | None = None, **kwargs
    ):
        """Load the projection; the folder's LoRA (if any) is applied when a VLM is attached
        (``vlm=`` here, or :meth:`attach` later). The LoRA is found in local folders (a pipeline
        folder, downloaded or not, is one); for a Hub id, download the folder first."""
        model = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        folder = os.path.join(os.fspath(pretrained_model_name_or_path), kwargs.get("subfolder") or "")
        if os.path.isfile(os.path.join(folder, _PEFT_CONFIG_FILE)):
            model._lora_dir = folder
        if vlm is not None:
            model.attach(vlm)
        return model
