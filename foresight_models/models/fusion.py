"""Hybrid encoder: DINOv2 spatial tokens fused with Qwen2.5-VL semantic tokens by cross-attention.

Qwen2.5-VL's 2x2 token merger loses spatial detail; letting DINOv2 patch tokens query Qwen2.5-VL
tokens keeps it (the measurements are summarised in ``docs/research.md``).

- :class:`CrossAttentionFusion` is the trainable part: DINOv2 tokens ``(b, n, d_dino)`` are
  projected to the fusion width and are the queries of gated cross-attention blocks whose keys and
  values are Qwen tokens ``(b, m, d_qwen)``. The gates start at zero, so an untrained fusion returns
  the projected DINOv2 tokens, and the output keeps DINOv2's grid.
- :class:`HybridEncoder` holds the two frozen backbones and a fusion (attribute ``fusion``); it
  preprocesses images for each backbone, runs them under ``torch.no_grad()`` and fuses. Its
  ``save_pretrained`` writes only the fusion weights and a config naming the backbones.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from diffusers import ConfigMixin
from diffusers.configuration_utils import register_to_config
from einops import rearrange
from torch import nn

from .._validation import check_choice, check_int, check_size_pair
from ..hub import ComponentHubMixin
from .backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    DinoBackbone,
    QwenBackbone,
    normalize,
    qwen_patchify,
    resize,
)
from .hybrid_io import HybridEncoderInputs, HybridEncoderOutput, images_to_clips
from .layers import CrossAttentionBlock
from .modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = ["CrossAttentionFusion", "HybridEncoder", "HybridEncoderInputs", "HybridEncoderOutput"]

SEMANTIC_SOURCES = ("vision", "llm")
_WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
# Keyword arguments diffusers' pipeline loader passes to every ModelMixin component; they do not
# apply to a fusion-only checkpoint of a few tens of MB.
_PIPELINE_LOADING_KWARGS = frozenset(
    {
        "low_cpu_mem_usage",
        "max_memory",
        "offload_folder",
        "offload_state_dict",
        "use_safetensors",
        "use_flashpack",
        "disable_mmap",
        "quantization_config",
        "provider",
        "sess_options",
        "provider_options",
        "device_map",
    }
)


class CrossAttentionFusion(ForesightModelMixin, ConfigMixin):
    """DINOv2 patch tokens (queries) attend to Qwen2.5-VL tokens (keys/values); the DINOv2 grid is kept.

    ``x = proj_in(spatial)``, then ``depth`` pre-norm blocks ``x + tanh(g_a) * attn(x, semantic)``,
    ``x + tanh(g_f) * ff(x)`` with ``g`` initialised to zero.

    Args:
        spatial_dim: DINOv2 token width (1024 for ViT-L).
        semantic_dim: Qwen2.5-VL token width (3584 for 7B).
        dim: output width.
        depth: number of cross-attention blocks.
        heads, dim_head: attention heads and their width.
        ff_mult: feed-forward expansion.
        dropout: attention and feed-forward dropout.
        semantic_source: which Qwen representation the fusion reads: ``"llm"`` (LLM hidden states of
            ``semantic_layer``; see ``docs/research.md`` for how the layers compare) or
            ``"vision"`` (the vision tower's output after the 2x2 merger).
        semantic_layer: for ``"llm"``, an index into the LLM's ``hidden_states`` (0 = embeddings,
            ``k`` = output of decoder layer ``k``, -1 = final layer after its norm).

    Shapes: ``spatial_tokens (b, n, spatial_dim)``, ``semantic_tokens (b, m, semantic_dim)``,
    ``semantic_mask (b, m)`` bool (``True`` = real token) -> ``(b, n, dim)``.
    """

    @register_to_config
    def __init__(
        self,
        *,
        spatial_dim: int,
        semantic_dim: int,
        dim: int = 1024,
        depth: int = 2,
        heads: int = 16,
        dim_head: int = 64,
        ff_mult: float = 4.0,
        dropout: float = 0.0,
        semantic_source: str = "llm",
        semantic_layer: int = -1,
    ):
        super().__init__()
        sizes = {"spatial_dim": spatial_dim, "semantic_dim": semantic_dim, "dim": dim}
        for name, value in {**sizes, "depth": depth, "heads": heads, "dim_head": dim_head}.items():
            check_int(value, name, plain=True)
        check_choice(semantic_source, "semantic_source", SEMANTIC_SOURCES)
        check_int(semantic_layer, "semantic_layer (an index into the LLM hidden states)", minimum=None, plain=True)
        self.proj_in = nn.Linear(spatial_dim, dim)
        self.blocks = nn.ModuleList(
            CrossAttentionBlock(
                dim,
                context_dim=semantic_dim,
                heads=heads,
                dim_head=dim_head,
                ff_mult=ff_mult,
                gated=True,
                dropout=dropout,
            )
            for _ in range(depth)
        )

    def forward(
        self,
        spatial_tokens: torch.Tensor,
        semantic_tokens: torch.Tensor,
        semantic_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Fuse ``spatial_tokens (b, n, spatial_dim)`` with ``semantic_tokens (b, m, semantic_dim)`` -> ``(b, n, dim)``."""
        cfg = self.config
        for name, tokens, width in (
            ("spatial_tokens", spatial_tokens, cfg.spatial_dim),
            ("semantic_tokens", semantic_tokens, cfg.semantic_dim),
        ):
            if tokens.ndim != 3 or tokens.shape[-1] != width:
                raise ValueError(f"{name} must be (b, n, {width}), got shape {tuple(tokens.shape)}")
        if spatial_tokens.shape[0] != semantic_tokens.shape[0]:
            raise ValueError(
                f"spatial_tokens and semantic_tokens must have the same batch size, got "
                f"{spatial_tokens.shape[0]} and {semantic_tokens.shape[0]}"
            )
        if semantic_mask is not None and tuple(semantic_mask.shape) != tuple(semantic_tokens.shape[:2]):
            raise ValueError(
                f"semantic_mask must be (b, m) = {tuple(semantic_tokens.shape[:2])}, got {tuple(semantic_mask.shape)}"
            )
        x = self.proj_in(spatial_tokens)
        for block in self.blocks:
            x = block(x, semantic_tokens, semantic_mask)
        return x


def _default_name_or_path(model: nn.Module) -> str | None:
    """The name a backbone was loaded from, if it remembers one: a transformers hub id / path, or for a
    timm model the ``timm.create_model`` name of its Hub weights (``"hf-hub:timm/..."``)."""
    name = getattr(getattr(model, "config", None), "_name_or_path", None) or getattr(model, "name_or_path", None)
    if name:
        return str(name)
    hf_hub_id = (getattr(model, "pretrained_cfg", None) or {}).get("hf_hub_id")
    return f"hf-hub:{hf_hub_id}" if hf_hub_id else None


def _absolute_if_local(name: str | os.PathLike | None) -> str | None:
    """A local path made absolute (so a saved config reloads from any working directory); a Hub id as given."""
    if name is None:
        return None
    name = os.fspath(name)
    return os.path.abspath(name) if os.path.exists(name) else name


class HybridEncoder(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """Frozen DINOv2 + frozen Qwen2.5-VL + a trainable :class:`CrossAttentionFusion` (attribute ``fusion``).

    Call it on PIL images, numpy arrays or tensors (uint8, or float in [0, 1]): single images
    ``(b, c, h, w)`` give ``(b, n, d)`` tokens, clips ``(b, t, c, h, w)`` give ``(b, t, n, d)``
    (see :func:`~foresight_models.models.hybrid_io.images_to_clips` for every accepted form). Each
    frame is resized and normalised for each backbone on the device of the encoder; Qwen's patch rows
    are built as ``Qwen2VLImageProcessor`` builds them for an image of that size (each frame a still
    image). Frames of a clip are fused frame by frame: the DINOv2 tokens of frame ``i`` attend to the
    Qwen tokens of frame ``i``. With ``semantic_source="llm"`` all frames of a clip form one LLM
    sequence, so a frame's hidden states also see the frames before it.

    The backbones are frozen (``requires_grad=False``), stay in ``eval()`` and run under
    ``torch.no_grad()``; on CUDA the DINOv2 branch runs on a side stream concurrently with Qwen
    (``overlap_branches``). ``save_pretrained`` writes only ``fusion.*`` weights and a config naming
    the backbones; ``from_pretrained(dir, dino=..., vlm=...)`` reuses already-loaded backbones.

    Args:
        dino: a transformers ``Dinov2Model`` or a timm DINOv2 ``VisionTransformer`` (not stored in the config).
        vlm: ``Qwen2_5_VLForConditionalGeneration``, ``Qwen2_5_VLModel`` or its vision tower (only
            with ``semantic_source="vision"``); not stored in the config.
        dino_name_or_path, vlm_name_or_path: hub id or local path the backbones load from in
            :meth:`from_pretrained` (default: what the backbones were loaded from, if known).
        dino_library: ``"transformers"`` or ``"timm"`` (default: that of ``dino``).
        dino_image_size, qwen_image_size: ``int`` or ``(h, w)`` each frame is resized to; multiples of
            the DINOv2 patch (14) and of Qwen's patch x merge (28).
        dino_mean, dino_std, qwen_mean, qwen_std: per-channel normalisation of each backbone.
        dim, depth, heads, dim_head, ff_mult, dropout, semantic_source, semantic_layer: of the fusion.
        spatial_dim, semantic_dim: token widths; inferred from the backbones when ``None``.
        overlap_branches: on CUDA, run DINOv2 on a side stream while Qwen runs.
    """

    ignore_for_config = ["dino", "vlm"]

    _modules_saved_elsewhere = ("dino", "vlm")  # the backbones load from their own checkpoints

    @register_to_config
    def __init__(
        self,
        *,
        dino: nn.Module | None = None,
        vlm: nn.Module | None = None,
        dino_name_or_path: str | None = None,
        vlm_name_or_path: str | None = None,
        dino_library: str | None = None,
        dino_image_size: int | Sequence[int] = 448,
        qwen_image_size: int | Sequence[int] = 448,
        dino_mean: Sequence[float] = IMAGENET_MEAN,
        dino_std: Sequence[float] = IMAGENET_STD,
        qwen_mean: Sequence[float] = OPENAI_CLIP_MEAN,
        qwen_std: Sequence[float] = OPENAI_CLIP_STD,
        dim: int = 1024,
        depth: int = 2,
        heads: int = 16,
        dim_head: int = 64,
        ff_mult: float = 4.0,
        dropout: float = 0.0,
        semantic_source: str = "llm",
        semantic_layer: int = -1,
        spatial_dim: int | None = None,
        semantic_dim: int | None = None,
        overlap_branches: bool = True,
    ):
        super().__init__()
        if dino is None or vlm is None:
            missing = "dino" if dino is None else "vlm"
            raise ValueError(
                f"{missing} is required: pass the loaded backbone, or use HybridEncoder.from_pretrained(dir), "
                "which loads the backbones named in the config"
            )
        dino_backbone = DinoBackbone.wrap(dino)
        qwen_backbone = QwenBackbone.wrap(vlm)
        self._dino_size = check_size_pair(dino_image_size, "dino_image_size")
        self._qwen_size = check_size_pair(qwen_image_size, "qwen_image_size")
        dino_backbone.check_image_size(self._dino_size)
        qwen_backbone.check_image_size(self._qwen_size)
        for name, stats in (("dino_mean", dino_mean), ("dino_std", dino_std), ("qwen_mean", qwen_mean)):
            if len(stats) != 3:
                raise ValueError(f"{name} must have 3 values (RGB), got {stats!r}")
        if len(qwen_std) != 3 or min(*dino_std, *qwen_std) <= 0:
            raise ValueError(f"dino_std and qwen_std must be 3 positive values, got {dino_std!r} and {qwen_std!r}")
        if dino_library is not None and dino_library != dino_backbone.library:
            raise ValueError(f"dino_library={dino_library!r} but dino is a {dino_backbone.library} model")
        if spatial_dim is not None and spatial_dim != dino_backbone.dim:
            raise ValueError(f"spatial_dim={spatial_dim} but the DINOv2 backbone's width is {dino_backbone.dim}")
        if semantic_dim is not None and semantic_dim != qwen_backbone.dim:
            raise ValueError(f"semantic_dim={semantic_dim} but the Qwen backbone's token width is {qwen_backbone.dim}")
        check_choice(semantic_source, "semantic_source", SEMANTIC_SOURCES)
        check_int(semantic_layer, "semantic_layer (an index into the LLM hidden states)", minimum=None, plain=True)
        if semantic_source == "llm":
            if qwen_backbone.multimodal is None:
                raise ValueError(
                    f"semantic_source='llm' needs the whole Qwen2.5-VL model, but vlm is its vision tower "
                    f"({type(vlm).__name__}); pass the full model or use semantic_source='vision'"
                )
            n_layers = qwen_backbone.num_llm_layers
            if not -(n_layers + 1) <= semantic_layer <= n_layers:
                raise ValueError(
                    f"semantic_layer must index the LLM's {n_layers + 1} hidden states "
                    f"(-{n_layers + 1}..{n_layers}), got {semantic_layer}"
                )
            semantic_layer = semantic_layer % (n_layers + 1) if semantic_layer != -1 else -1
        elif semantic_layer != -1:
            raise ValueError(
                f"semantic_layer={semantic_layer} selects an LLM layer, but semantic_source={semantic_source!r} "
                "reads the vision tower; leave semantic_layer at -1 or use semantic_source='llm'"
            )

        self.dino = dino.requires_grad_(False).eval()
        self.vlm = vlm.requires_grad_(False).eval()
        self._dino_backbone = dino_backbone
        self.overlap_branches = overlap_branches  # may be switched at run time (e.g. to benchmark)
        self._qwen_backbone = qwen_backbone
        self.fusion = CrossAttentionFusion(
            spatial_dim=dino_backbone.dim,
            semantic_dim=qwen_backbone.dim,
            dim=dim,
            depth=depth,
            heads=heads,
            dim_head=dim_head,
            ff_mult=ff_mult,
            dropout=dropout,
            semantic_source=semantic_source,
            semantic_layer=semantic_layer,
        )
        self.register_to_config(
            dino_name_or_path=_absolute_if_local(dino_name_or_path or _default_name_or_path(dino)),
            vlm_name_or_path=_absolute_if_local(vlm_name_or_path or _default_name_or_path(vlm)),
            dino_library=dino_backbone.library,
            spatial_dim=dino_backbone.dim,
            semantic_dim=qwen_backbone.dim,
            semantic_layer=semantic_layer,
        )

    # ------------------------------------------------------------------ frozen backbones

    def train(self, mode: bool = True) -> HybridEncoder:
        """Set the fusion's training mode; the backbones always stay in ``eval()``."""
        super().train(mode)
        self.dino.eval()
        self.vlm.eval()
        return self

    @property
    def grid(self) -> tuple[int, int]:
        """``(gh, gw)`` of the fused tokens (the DINOv2 patch grid)."""
        p = self._dino_backbone.patch_size
        return (self._dino_size[0] // p, self._dino_size[1] // p)

    @property
    def semantic_grid(self) -> tuple[int, int]:
        """``(gh_q, gw_q)`` of the Qwen tokens (after the 2x2 merger)."""
        unit = self._qwen_backbone.patch_size * self._qwen_backbone.merge_size
        return (self._qwen_size[0] // unit, self._qwen_size[1] // unit)

    # ------------------------------------------------------------------ preprocessing

    def preprocess(self, images: Any) -> HybridEncoderInputs:
        """Convert images or clips to each backbone's input, on the fusion's device.

        One resize serves both backbones when their sizes match; normalisation follows each
        backbone's statistics; the Qwen pixels are flattened into Qwen2-VL patch rows.
        """
        device = self.fusion.proj_in.weight.device
        if isinstance(images, torch.Tensor):
            images = images.to(device, non_blocking=True)  # move uint8 before it becomes float32
        frames, is_clip = images_to_clips(images)
        b, t = frames.shape[:2]
        flat = rearrange(frames.to(device), "b t c h w -> (b t) c h w")
        dino_resized = resize(flat, self._dino_size)
        qwen_resized = dino_resized if self._qwen_size == self._dino_size else resize(flat, self._qwen_size)
        cfg = self.config
        dino_pixels = normalize(dino_resized, cfg.dino_mean, cfg.dino_std)
        qwen_pixels = normalize(qwen_resized, cfg.qwen_mean, cfg.qwen_std)
        qwen = self._qwen_backbone
        pixel_values = qwen_patchify(
            qwen_pixels,
            patch_size=qwen.patch_size,
            merge_size=qwen.merge_size,
            temporal_patch_size=qwen.temporal_patch_size,
        )
        gh, gw = self._qwen_size[0] // qwen.patch_size, self._qwen_size[1] // qwen.patch_size
        grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=device).repeat(b * t, 1)
        dino_dtype = next(self.dino.parameters()).dtype
        return HybridEncoderInputs(
            dino_pixels=dino_pixels.to(dino_dtype),
            qwen_pixel_values=pixel_values.to(qwen.visual.dtype),
            qwen_grid_thw=grid_thw,
            batch=b,
            frames=t,
            is_clip=is_clip,
        )

    # ------------------------------------------------------------------ the two branches

    @torch.no_grad()
    def encode_spatial(self, inputs: HybridEncoderInputs) -> torch.Tensor:
        """DINOv2 patch tokens ``((b t), n, d_dino)`` of preprocessed inputs (no gradient)."""
        return self._dino_backbone.patch_tokens(inputs.dino_pixels)

    @torch.no_grad()
    def encode_semantic(self, inputs: HybridEncoderInputs) -> torch.Tensor:
        """Qwen2.5-VL tokens ``((b t), m, d_qwen)`` of preprocessed inputs (no gradient).

        This is all the Qwen work the encoder does: vision tower, then (``"llm"``) the LLM up to its
        final norm without the LM head.
        """
        qwen = self._qwen_backbone
        if self.fusion.config.semantic_source == "vision":
            tokens = qwen.vision_tokens(inputs.qwen_pixel_values, inputs.qwen_grid_thw)
        else:
            tokens = qwen.llm_tokens(
                inputs.qwen_pixel_values,
                inputs.qwen_grid_thw,
                batch=inputs.batch,
                frames=inputs.frames,
                layer=self.fusion.config.semantic_layer,
            )
        return rearrange(tokens, "(bt m) d -> bt m d", bt=inputs.batch * inputs.frames)

    def _encode_backbones(self, inputs: HybridEncoderInputs) -> tuple[torch.Tensor, torch.Tensor]:
        if not (self.overlap_branches and inputs.dino_pixels.is_cuda):
            return self.encode_spatial(inputs), self.encode_semantic(inputs)
        device = inputs.dino_pixels.device
        main = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            spatial = self.encode_spatial(inputs)
        semantic = self.encode_semantic(inputs)
        main.wait_stream(side)
        # Memory made on one stream and used on the other must not be reused before both are done.
        inputs.dino_pixels.record_stream(side)
        spatial.record_stream(main)
        return spatial, semantic

    def forward(self, images: Any, *, return_dict: bool = True) -> HybridEncoderOutput | tuple[Any, ...]:
        """Encode images or clips.

        Args:
            images: PIL image(s), arrays or tensors (see :meth:`preprocess`), or
                :class:`HybridEncoderInputs` from :meth:`preprocess`.

        Returns:
            :class:`HybridEncoderOutput` with ``fused_tokens (b, [t,] n, dim)``, ``spatial_tokens
            (b, [t,] n, d_dino)``, ``semantic_tokens (b, [t,] m, d_qwen)``, ``grid``, ``semantic_grid``;
            a tuple in that order when ``return_dict=False``.
        """
        inputs = images if isinstance(images, HybridEncoderInputs) else self.preprocess(images)
        spatial, semantic = self._encode_backbones(inputs)
        fusion_dtype = self.fusion.proj_in.weight.dtype
        fused = self.fusion(spatial.to(fusion_dtype), semantic.to(fusion_dtype))
        pattern = "(b t) n d -> b t n d" if inputs.is_clip else "(b t) n d -> b (t n) d"
        output = HybridEncoderOutput(
            fused_tokens=rearrange(fused, pattern, b=inputs.batch),
            spatial_tokens=rearrange(spatial, pattern, b=inputs.batch),
            semantic_tokens=rearrange(semantic, pattern, b=inputs.batch),
            grid=self.grid,
            semantic_grid=self.semantic_grid,
        )
        return output if return_dict else output.to_tuple()

    # ------------------------------------------------------------------ saving and loading

    @contextlib.contextmanager
    def _without_backbones(self) -> Iterator[None]:
        """Temporarily unregister the backbones so that ``state_dict()`` holds only ``fusion.*``."""
        modules = self._modules
        self._modules = OrderedDict((k, v) for k, v in modules.items() if k not in ("dino", "vlm"))
        try:
            yield
        finally:
            self._modules = modules

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write ``config.json`` (naming the backbones) and the fusion weights; never backbone weights.

        Keyword arguments are those of ``diffusers.ModelMixin.save_pretrained``; weights are always safetensors.
        """
        if kwargs.get("safe_serialization", True) is False:
            raise ValueError("safe_serialization=False is not supported: weights are saved as safetensors only")
        with self._without_backbones():
            super().save_pretrained(save_directory, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        dino: nn.Module | None = None,
        vlm: nn.Module | None = None,
        subfolder: str | None = None,
        variant: str | None = None,
        torch_dtype: torch.dtype | None = None,
        local_files_only: bool | None = None,
        cache_dir: str | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        **loading_kwargs: Any,
    ) -> HybridEncoder:
        """Load a saved fusion; backbones are the ``dino``/``vlm`` given, else loaded from the names in the config.

        Args:
            pretrained_model_name_or_path: folder (or hub id) written by :meth:`save_pretrained`.
            dino, vlm: already-loaded backbones to share (e.g. the pipeline's Qwen2.5-VL).
            torch_dtype: dtype of the fusion and of backbones loaded here (given ones are left as they are).
            subfolder, variant, local_files_only, cache_dir, revision, token: as in diffusers.
            loading_kwargs: only the arguments diffusers' pipeline loader passes to every component
                (``low_cpu_mem_usage``, ``device_map=None``, ...); they do not apply to a fusion-only
                checkpoint, and ``device_map`` / ``quantization_config`` other than ``None`` or
                ``use_safetensors=False`` raise a ``ValueError``.

        A timm DINOv2 named in the config loads through ``timm.create_model`` (a local folder as
        ``local-dir:``); timm has no ``local_files_only``, set ``HF_HUB_OFFLINE=1`` to stay offline.
        """
        unknown = sorted(set(loading_kwargs) - _PIPELINE_LOADING_KWARGS)
        if unknown:
            raise TypeError(f"HybridEncoder.from_pretrained got unexpected keyword arguments {unknown}")
        for name in ("device_map", "quantization_config"):
            if loading_kwargs.get(name) is not None:
                raise ValueError(f"{name} is not supported, got {loading_kwargs[name]!r}; load, then use .to(device)")
        if loading_kwargs.get("use_safetensors") is False:
            raise ValueError("use_safetensors=False is not supported: the fusion weights are safetensors only")
        hub = {"local_files_only": local_files_only, "cache_dir": cache_dir, "revision": revision, "token": token}
        config = cls.load_config(pretrained_model_name_or_path, subfolder=subfolder, **hub)
        init_kwargs, _, _ = cls.extract_init_dict(config)
        backbone_hub = {k: v for k, v in hub.items() if v is not None}
        if dino is None:
            dino = _load_dino(config.get("dino_name_or_path"), config.get("dino_library"), torch_dtype, backbone_hub)
        if vlm is None:
            vlm = _load_vlm(config.get("vlm_name_or_path"), torch_dtype, backbone_hub)
        model = cls(dino=dino, vlm=vlm, **init_kwargs)

        from safetensors.torch import load_file

        weights_name = (
            _WEIGHTS_NAME if variant is None else _WEIGHTS_NAME.replace(".safetensors", f".{variant}.safetensors")
        )
        root = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(root):
            path = os.path.join(root, subfolder or "", weights_name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no fusion weights {weights_name!r} in {os.path.join(root, subfolder or '')}")
        else:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(root, weights_name, subfolder=subfolder, **backbone_hub)
        state = load_file(path)
        prefix = "fusion."
        stray = sorted(k for k in state if not k.startswith(prefix))
        if stray:
            raise ValueError(
                f"{path} holds weights outside the fusion, e.g. {stray[:3]}; it is not a HybridEncoder save"
            )
        model.fusion.load_state_dict({k[len(prefix) :]: v for k, v in state.items()}, strict=True)
        if torch_dtype is not None:
            model.fusion.to(torch_dtype)
        return model


def _load_dino(name: str | None, library: str | None, dtype: torch.dtype | None, hub: dict[str, Any]) -> nn.Module:
    if not name:
        raise ValueError(
            "dino: the saved config names no DINOv2 checkpoint (dino_name_or_path is null); pass dino=<loaded model>"
        )
    if library == "timm":
        import timm

        if os.path.isdir(name):  # timm reads a local folder only through its "local-dir:" prefix
            name = f"local-dir:{name}"
        model = timm.create_model(
            name, pretrained=True, num_classes=0, dynamic_img_size=True, cache_dir=hub.get("cache_dir")
        )
        return model.to(dtype) if dtype is not None else model
    from transformers import AutoModel

    return AutoModel.from_pretrained(name, dtype=dtype, use_safetensors=True, **hub)


def _load_vlm(name: str | None, dtype: torch.dtype | None, hub: dict[str, Any]) -> nn.Module:
    if not name:
        raise ValueError(
            "vlm: the saved config names no Qwen2.5-VL checkpoint (vlm_name_or_path is null); pass vlm=<loaded model>"
        )
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(name, dtype=dtype, use_safetensors=True, **hub)
