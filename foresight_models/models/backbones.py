"""Uniform access to the frozen backbones of the hybrid encoder, and their preprocessing.

DINOv2 comes from transformers (``Dinov2Model``, ``Dinov2WithRegistersModel``) or timm (a
``VisionTransformer``); Qwen2.5-VL is a ``Qwen2_5_VLForConditionalGeneration``, a ``Qwen2_5_VLModel``
or its vision tower alone. Preprocessing runs in torch on the device of the frames: resize,
normalise and, for Qwen, the patchification of ``Qwen2VLImageProcessor`` (same layout, so the vision
tower sees exactly what the processor would give it for an image already at the target size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OPENAI_CLIP_MEAN",
    "OPENAI_CLIP_STD",
    "DinoBackbone",
    "QwenBackbone",
    "normalize",
    "qwen_patchify",
    "resize",
]

#: DINOv2's normalisation (ImageNet statistics).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Qwen2.5-VL's normalisation (``Qwen2VLImageProcessor.image_mean/std``).
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased resize of ``(b, c, h, w)`` in [0, 1] to ``size``; a no-op at that size.

    The result is clipped to [0, 1] as an 8-bit resize (the upstream processors) saturates it.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = F.interpolate(images, size=tuple(size), mode="bicubic", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(images - mean) / std`` per channel; ``images (b, c, h, w)``."""
    mean_t = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def qwen_patchify(images: torch.Tensor, *, patch_size: int, merge_size: int, temporal_patch_size: int) -> torch.Tensor:
    """Flatten normalised images into Qwen2-VL's patch rows, as ``Qwen2VLImageProcessor`` does.

    Each image is repeated ``temporal_patch_size`` times in time (a still image), and patches are
    ordered merge-window by merge-window so that the vision tower's 2x2 merger sees neighbours.

    Args:
        images: ``(b, c, h, w)`` with ``h, w`` multiples of ``patch_size * merge_size``.

    Returns:
        ``(b * gh * gw, c * temporal_patch_size * patch_size**2)`` with ``gh = h // patch_size``.
    """
    b, c, h, w = images.shape
    gh, gw = h // patch_size, w // patch_size
    patches = rearrange(
        images,
        "b c (gh m1 p1) (gw m2 p2) -> b gh gw m1 m2 c p1 p2",
        gh=gh // merge_size,
        gw=gw // merge_size,
        m1=merge_size,
        m2=merge_size,
        p1=patch_size,
        p2=patch_size,
    )
    patches = patches.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, temporal_patch_size, -1, -1)
    return patches.reshape(b * gh * gw, c * temporal_patch_size * patch_size * patch_size)


@dataclass(frozen=True)
class DinoBackbone:
    """A DINOv2 backbone of either library, seen through one interface.

    Attributes:
        model: the backbone module.
        library: ``"transformers"`` or ``"timm"``.
        patch_size: side of a patch in pixels.
        dim: token width.
        num_prefix_tokens: class (and register) tokens before the patch tokens.
    """

    model: nn.Module
    library: str
    patch_size: int
    dim: int
    num_prefix_tokens: int

    @classmethod
    def wrap(cls, model: nn.Module) -> DinoBackbone:
        """Recognise ``model`` (transformers DINOv2 or timm ViT) or raise a ``TypeError`` naming ``dino``."""
        config = getattr(model, "config", None)
        model_type = getattr(config, "model_type", None)
        if model_type in ("dinov2", "dinov2_with_registers"):
            prefix = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
            return cls(model, "transformers", int(config.patch_size), int(config.hidden_size), prefix)
        try:
            from timm.models.vision_transformer import VisionTransformer
        except ImportError:  # pragma: no cover - timm is a dependency
            VisionTransformer = ()
        if isinstance(model, VisionTransformer):
            patch = model.patch_embed.patch_size
            patch = patch[0] if isinstance(patch, (tuple, list)) else patch
            return cls(model, "timm", int(patch), int(model.embed_dim), int(model.num_prefix_tokens))
        raise TypeError(
            "dino must be a transformers Dinov2Model / Dinov2WithRegistersModel or a timm VisionTransformer, "
            f"got {type(model).__name__}"
        )

    def check_image_size(self, size: tuple[int, int]) -> None:
        """Raise a ``ValueError`` naming ``dino_image_size`` if the backbone cannot take ``size``."""
        if size[0] % self.patch_size or size[1] % self.patch_size or min(size) <= 0:
            raise ValueError(
                f"dino_image_size must be positive multiples of the DINOv2 patch size {self.patch_size}, got {size}"
            )
        if self.library == "timm" and not getattr(self.model.patch_embed, "dynamic_img_size", False):
            native = tuple(self.model.patch_embed.img_size)
            if native != tuple(size):
                raise ValueError(
                    f"dino_image_size {size} differs from the timm model's img_size {native}; build it with "
                    "dynamic_img_size=True or use its native size"
                )

    def patch_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels ``(b, 3, h, w)`` -> final-norm patch tokens ``(b, (h/p) * (w/p), d)``, row-major."""
        if self.library == "transformers":
            tokens = self.model(pixel_values=pixels).last_hidden_state
        else:
            tokens = self.model.forward_features(pixels)
        return tokens[:, self.num_prefix_tokens :]


@dataclass(frozen=True)
class QwenBackbone:
    """The parts of a Qwen2.5-VL model the hybrid encoder uses.

    Attributes:
        model: the module given by the user.
        visual: its vision tower (patch embedding, ViT, 2x2 merger).
        multimodal: the ``Qwen2_5_VLModel`` (vision tower + LLM, no LM head), or ``None`` for a bare tower.
        patch_size, merge_size, temporal_patch_size: from the vision config.
        dim: width of the semantic tokens (the merger's output, equal to the LLM width).
    """

    model: nn.Module
    visual: nn.Module
    multimodal: nn.Module | None
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    dim: int

    @classmethod
    def wrap(cls, model: nn.Module) -> QwenBackbone:
        """Find the vision tower (and the LLM) of ``model`` or raise a ``TypeError`` naming ``vlm``."""
        multimodal: nn.Module | None
        if hasattr(model, "model") and hasattr(model.model, "visual") and hasattr(model.model, "language_model"):
            multimodal, visual = model.model, model.model.visual
        elif hasattr(model, "visual") and hasattr(model, "language_model"):
            multimodal, visual = model, model.visual
        elif hasattr(model, "merger") and hasattr(model, "patch_embed"):
            multimodal, visual = None, model
        else:
            raise TypeError(
                "vlm must be a Qwen2.5-VL model with a vision tower (Qwen2_5_VLForConditionalGeneration, "
                f"Qwen2_5_VLModel or its vision tower), got {type(model).__name__}, which has no vision tower"
            )
        config = visual.config
        return cls(
            model,
            visual,
            multimodal,
            int(config.patch_size),
            int(config.spatial_merge_size),
            int(config.temporal_patch_size),
            int(config.out_hidden_size),
        )

    @property
    def num_llm_layers(self) -> int:
        """Number of decoder layers of the LLM (0 for a bare vision tower)."""
        return 0 if self.multimodal is None else int(self.multimodal.config.text_config.num_hidden_layers)

    def check_image_size(self, size: tuple[int, int]) -> None:
        """Raise a ``ValueError`` naming ``qwen_image_size`` unless it is a positive multiple of patch x merge."""
        unit = self.patch_size * self.merge_size
        if size[0] % unit or size[1] % unit or min(size) <= 0:
            raise ValueError(f"qwen_image_size must be positive multiples of {unit} (patch x merge), got {size}")

    def vision_tokens(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        """Patch rows of ``n_img`` images -> merged tokens ``(n_img * m, d)``, image by image, row-major."""
        return self.visual(pixel_values.to(self.visual.dtype), grid_thw=grid_thw).pooler_output

    def llm_tokens(
        self, pixel_values: torch.Tensor, grid_thw: torch.Tensor, *, batch: int, frames: int, layer: int
    ) -> torch.Tensor:
        """LLM hidden states of the image tokens of ``batch`` clips of ``frames`` images each.

        Each clip is one sequence ``(<vision_start> <image_pad> * m <vision_end>) * frames`` with
        Qwen2.5-VL's 3D rotary positions, so later frames see earlier ones, as in a prompt.

        Returns:
            ``(batch * frames * m, d)``: hidden states of ``layer`` (an index into the LLM's
            ``hidden_states``: 0 = embeddings, ``k`` = output of decoder layer ``k``, -1 = final,
            after the final norm) at the image-token positions.
        """
        config = self.multimodal.config
        m = int(grid_thw[0].prod().item()) // self.merge_size**2
        device = pixel_values.device
        image_token = torch.full((m,), config.image_token_id, dtype=torch.long)
        frame_ids = torch.cat(
            [torch.tensor([config.vision_start_token_id]), image_token, torch.tensor([config.vision_end_token_id])]
        )
        input_ids = frame_ids.repeat(frames).unsqueeze(0).expand(batch, -1).to(device)
        is_image = input_ids == config.image_token_id
        need_all = layer not in (-1, self.num_llm_layers)
        out = self.multimodal(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            pixel_values=pixel_values,
            image_grid_thw=grid_thw,
            mm_token_type_ids=is_image.int(),
            use_cache=False,
            output_hidden_states=need_all,
        )
        hidden = out.hidden_states[layer] if need_all else out.last_hidden_state
        return hidden[is_image]
