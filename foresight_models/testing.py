"""Tiny, deterministic, offline builders of every upstream component the library touches.

Each builder seeds its own generator, needs no file from the Hub, builds in milliseconds on CPU and
returns the real upstream class (transformers, diffusers, timm) at a toy size. Tests, examples and
the README demo run on these; the real loading code paths stay the ones users run with real
checkpoints. Sizes follow ``DESIGN.md`` ("Small configurations that run on CPU in milliseconds").

Example::

    >>> from foresight_models import testing
    >>> vlm = testing.tiny_qwen2_5_vl()
    >>> processor = testing.tiny_qwen2_5_vl_processor()
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    from timm.models.vision_transformer import VisionTransformer
    from transformers import (
        Dinov2Model,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        T5EncoderModel,
        T5Tokenizer,
    )

__all__ = [
    "constant_velocity_tokens",
    "TINY_QWEN_SPECIAL_TOKENS",
    "QWEN_CHAT_TEMPLATE",
    "seeded",
    "tiny_dinov2",
    "tiny_ltx_components",
    "tiny_ltx_pipeline",
    "tiny_ltx_scheduler",
    "tiny_ltx_transformer",
    "tiny_ltx_vae",
    "tiny_qwen2_5_vl",
    "tiny_qwen2_5_vl_processor",
    "tiny_pipeline_components",
    "tiny_qwen2_5_vl_tokenizer",
    "tiny_t5_encoder",
    "tiny_t5_tokenizer",
    "tiny_timm_dinov2",
    "tiny_pipeline",
    "tiny_pipeline_folder",
    "demo_image",
]

#: Width of the tiny T5 encoder, and so the ``caption_channels`` of the tiny LTX transformer.
TINY_CAPTION_CHANNELS = 32

# Qwen2.5-VL's special tokens, in the order of the real tokenizer (ids follow the byte vocabulary here).
TINY_QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: The chat template of Qwen2-VL / Qwen2.5-VL (as shipped in their ``chat_template.json``).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded to ``seed``, restoring the previous state after."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


# --------------------------------------------------------------------------------------------------
# Qwen2.5-VL
# --------------------------------------------------------------------------------------------------


def _byte_level_vocab() -> dict[str, int]:
    """The 256 single-byte symbols of GPT-2 style byte-level BPE, which can spell any text."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codepoints = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in codepoints:
            codepoints[b] = 256 + extra
            extra += 1
    return {chr(codepoints[b]): b for b in range(256)}


def tiny_qwen2_5_vl_tokenizer():
    """A byte-level Qwen2 tokenizer (no merges) with Qwen2.5-VL's special tokens and chat template."""
    from transformers import Qwen2Tokenizer

    vocab = _byte_level_vocab()
    for token in TINY_QWEN_SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(TINY_QWEN_SPECIAL_TOKENS[1:]),
        model_max_length=32768,
    )
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def tiny_qwen2_5_vl_processor(*, max_side: int = 112) -> Qwen2_5_VLProcessor:
    """A ``Qwen2_5_VLProcessor`` built offline: tiny tokenizer, image and video processors whose
    resolution budget is small (56x56 to ``max_side`` x ``max_side`` pixels per image, so a 112x112
    budget costs 4-16 tokens an image)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = {"shortest_edge": 56 * 56, "longest_edge": max_side * max_side}
    image_processor = Qwen2VLImageProcessor(size=pixels, patch_size=14, merge_size=2, temporal_patch_size=2)
    video_processor = Qwen2VLVideoProcessor(
        size=pixels, patch_size=14, merge_size=2, temporal_patch_size=2, cap_pixels_per_frame=True
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tiny_qwen2_5_vl_tokenizer(),
        video_processor=video_processor,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def tiny_qwen2_5_vl(
    seed: int = 0, *, text_config: dict | None = None, vision_config: dict | None = None
) -> Qwen2_5_VLForConditionalGeneration:
    """A 2-layer Qwen2.5-VL (text width 32, vision width 32) matching :func:`tiny_qwen2_5_vl_processor`.

    ``text_config`` / ``vision_config`` override entries of the tiny configurations (other sizes).
    """
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tiny_qwen2_5_vl_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in TINY_QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            **(text_config or {}),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 4,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
            **(vision_config or {}),
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    with seeded(seed):
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model.eval()


# --------------------------------------------------------------------------------------------------
# DINOv2
# --------------------------------------------------------------------------------------------------


def tiny_dinov2(seed: int = 0, *, patch_size: int = 14, image_size: int = 56) -> Dinov2Model:
    """A 2-layer transformers ``Dinov2Model`` of width 32 (position embeddings interpolate to any size)."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        mlp_ratio=2,
        patch_size=patch_size,
        image_size=image_size,
    )
    with seeded(seed):
        model = Dinov2Model(config)
    return model.eval()


def tiny_timm_dinov2(seed: int = 0, *, patch_size: int = 14, image_size: int = 56) -> VisionTransformer:
    """A 2-layer timm DINOv2-style ViT (class token, layer scale, no head) of width 32."""
    from timm.models.vision_transformer import VisionTransformer

    with seeded(seed):
        model = VisionTransformer(
            img_size=image_size,
            patch_size=patch_size,
            embed_dim=32,
            depth=2,
            num_heads=4,
            mlp_ratio=2.0,
            init_values=1e-5,
            num_classes=0,
            dynamic_img_size=True,
        )
    return model.eval()


# --------------------------------------------------------------------------------------------------
# LTX-Video and its T5 text encoder
# --------------------------------------------------------------------------------------------------


def tiny_ltx_transformer(
    seed: int = 0, *, caption_channels: int = TINY_CAPTION_CHANNELS, num_layers: int = 1
) -> LTXVideoTransformer3DModel:
    """An ``LTXVideoTransformer3DModel`` of ``num_layers`` blocks (8 latent channels, 4 heads x 8 dims).

    With one block, tokens injected at latent frame 0 cannot reach the other frames in image-to-video
    (frame 0's prediction is discarded); two blocks let them through self-attention.
    """
    from diffusers import LTXVideoTransformer3DModel

    with seeded(seed):
        model = LTXVideoTransformer3DModel(
            in_channels=8,
            out_channels=8,
            patch_size=1,
            patch_size_t=1,
            num_attention_heads=4,
            attention_head_dim=8,
            cross_attention_dim=32,
            num_layers=num_layers,
            caption_channels=caption_channels,
        )
    return model.eval()


def tiny_ltx_vae(seed: int = 0) -> AutoencoderKLLTXVideo:
    """An ``AutoencoderKLLTXVideo`` with 8 latent channels, 4x spatial and 4x temporal compression."""
    from diffusers import AutoencoderKLLTXVideo

    with seeded(seed):
        vae = AutoencoderKLLTXVideo(
            in_channels=3,
            out_channels=3,
            latent_channels=8,
            block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            spatio_temporal_scaling=(True, True, False, False),
            decoder_spatio_temporal_scaling=(True, True, False, False),
            decoder_inject_noise=(False, False, False, False, False),
            upsample_residual=(False, False, False, False),
            upsample_factor=(1, 1, 1, 1),
            timestep_conditioning=False,
            patch_size=1,
            patch_size_t=1,
            encoder_causal=True,
            decoder_causal=False,
        )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return vae.eval()


def tiny_ltx_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """The flow-matching Euler scheduler LTX-Video uses, with its default configuration."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler()


def tiny_t5_tokenizer(*, extra_words: tuple[str, ...] = ()) -> T5Tokenizer:
    """A Unigram T5 tokenizer over characters and a few common words (plus ``extra_words``), built in memory."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    words = "the a of and to in on is it moves falls pushes left right up down ball cube hand next what happens"
    words = list(dict.fromkeys([*words.split(), *extra_words]))
    pieces += [(f"▁{word}", -5.0) for word in words]
    symbols = string.ascii_letters + string.digits + string.punctuation
    pieces += [(f"▁{char}", -8.0) for char in symbols] + [(char, -9.0) for char in symbols]
    pieces += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    return T5Tokenizer(vocab=pieces, extra_ids=100, model_max_length=512)


def tiny_t5_encoder(seed: int = 0, *, vocab_size: int = 1000) -> T5EncoderModel:
    """A 2-layer ``T5EncoderModel`` of width 32 (the tiny LTX transformer's ``caption_channels``)."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=TINY_CAPTION_CHANNELS,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    )
    with seeded(seed):
        model = T5EncoderModel(config)
    return model.eval()


def tiny_ltx_components(seed: int = 0) -> dict[str, object]:
    """The components of a tiny ``LTXImageToVideoPipeline``: transformer, vae, scheduler, text_encoder, tokenizer."""
    return {
        "transformer": tiny_ltx_transformer(seed),
        "vae": tiny_ltx_vae(seed),
        "scheduler": tiny_ltx_scheduler(),
        "text_encoder": tiny_t5_encoder(seed),
        "tokenizer": tiny_t5_tokenizer(),
    }


def tiny_ltx_pipeline(seed: int = 0) -> LTXImageToVideoPipeline:
    """A stock diffusers ``LTXImageToVideoPipeline`` on the tiny components (a 9x32x32 clip in 2 steps)."""
    from diffusers import LTXImageToVideoPipeline

    pipe = LTXImageToVideoPipeline(**tiny_ltx_components(seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------------------------------
# ForesightPipeline
# --------------------------------------------------------------------------------------------------

#: Version of the on-demand tiny pipeline folder (bumped when its components change).
TINY_PIPELINE_VERSION = "2"


def tiny_pipeline_components(
    seed: int = 0,
    *,
    vlm: bool = True,
    text_encoder: bool = True,
    adapter: bool = False,
    conditioning: bool = False,
    hybrid_encoder: bool = False,
) -> dict[str, object]:
    """The components of :func:`tiny_pipeline` by name (diffusers' ``get_dummy_components()``): pass them to
    ``ForesightPipeline(**components)``; same arguments as :func:`tiny_pipeline`."""
    components: dict[str, object] = tiny_ltx_components(seed)
    if not text_encoder:
        components.pop("text_encoder")
        components.pop("tokenizer")
    if vlm:
        components["vlm"] = tiny_qwen2_5_vl(seed)
        components["processor"] = tiny_qwen2_5_vl_processor()
    if adapter:
        from .models.adapters import QueryAdapter

        with seeded(seed):
            components["adapter"] = QueryAdapter(
                d_in=32, d_out=TINY_CAPTION_CHANNELS, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8
            ).eval()
    if hybrid_encoder:
        from .models.fusion import HybridEncoder

        components["spatial_encoder"] = tiny_dinov2(seed)
        with seeded(seed):
            components["hybrid_encoder"] = HybridEncoder(
                dino=components["spatial_encoder"],
                vlm=components["vlm"],
                dino_image_size=56,
                qwen_image_size=56,
                dim=32,
                depth=1,
                heads=4,
                dim_head=8,
            )
    if conditioning:
        from .conditioning import LTXConditioningAdapter

        components["conditioning"] = LTXConditioningAdapter.from_transformer(components["transformer"]).eval()
    return components


def tiny_pipeline(
    seed: int = 0,
    *,
    vlm: bool = True,
    text_encoder: bool = True,
    adapter: bool = False,
    conditioning: bool = False,
    hybrid_encoder: bool = False,
):
    """A ``ForesightPipeline`` on the tiny components: LTX (+ T5), Qwen2.5-VL and optionally a
    ``QueryAdapter`` (width 32 -> 4 tokens of width 32), an ``LTXConditioningAdapter`` and a
    ``HybridEncoder`` (tiny DINOv2 as ``spatial_encoder`` + the pipeline's VLM, fused width 32).
    Its progress bar is disabled.

    ``text_encoder=False`` needs ``adapter=True`` (its tokens become the prompt embeddings).
    """
    from .pipelines.foresight_pipeline import ForesightPipeline

    options = dict(vlm=vlm, text_encoder=text_encoder, adapter=adapter, conditioning=conditioning)
    pipe = ForesightPipeline(**tiny_pipeline_components(seed, hybrid_encoder=hybrid_encoder, **options))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_pipeline_folder(path: str | None = None) -> str:
    """A saved tiny ``ForesightPipeline`` folder (T5 + Qwen2.5-VL), written on first use and reused after.

    Args:
        path: where to put it; default ``$FORESIGHT_CACHE`` or ``~/.cache/foresight_models``, under
            ``tiny-pipeline-v{TINY_PIPELINE_VERSION}``.

    Returns:
        The folder, loadable with ``ForesightPipeline.from_pretrained(folder, local_files_only=True)``.
    """
    import os
    import shutil
    import tempfile

    if path is None:
        root = os.environ.get("FORESIGHT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "foresight_models")
        path = os.path.join(root, f"tiny-pipeline-v{TINY_PIPELINE_VERSION}")
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, "model_index.json")):
        return path
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tiny-pipeline-", dir=parent)
    try:
        tiny_pipeline().save_pretrained(staging)
        try:
            os.replace(staging, path)  # atomic: a concurrent writer may have won, its folder is as good
        except OSError:
            if not os.path.isfile(os.path.join(path, "model_index.json")):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def demo_image(size: int = 128):
    """A deterministic RGB PIL test scene: a red ball at the top of a ramp, a blue cube at its foot."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (235, 230, 220))
    draw = ImageDraw.Draw(image)
    s = size / 128
    draw.rectangle([0, 104 * s, size, size], fill=(120, 90, 60))
    draw.polygon([(8 * s, 40 * s), (8 * s, 104 * s), (96 * s, 104 * s)], fill=(150, 150, 150))
    draw.ellipse([12 * s, 20 * s, 32 * s, 40 * s], fill=(210, 40, 40))
    draw.rectangle([100 * s, 84 * s, 120 * s, 104 * s], fill=(40, 70, 200))
    return image


# --------------------------------------------------------------------------------------------------
# Synthetic token sequences
# --------------------------------------------------------------------------------------------------


def constant_velocity_tokens(
    num: int, *, frames: int, objects: int = 4, dim: int = 16, generator: torch.Generator
) -> torch.Tensor:
    """Token clips ``(num, frames, objects, dim)`` of objects moving at constant velocity.

    Each object has one token: a fixed projection of Fourier features of its 2-D position plus a
    per-clip "colour". The next frame is fully determined by the past yet differs from the last one,
    so a predictor that models motion can beat ``CopyLastFrame`` here (the sanity check the research
    ran before testing on real video latents).
    """
    import math

    projection = torch.randn(8, dim, generator=torch.Generator().manual_seed(123)) / 8**0.5
    start = torch.rand(num, 1, objects, 2, generator=generator)
    velocity = (torch.rand(num, 1, objects, 2, generator=generator) * 2 - 1) * 0.08
    colour = torch.randn(num, 1, objects, dim, generator=generator) * 0.3
    angle = (start + velocity * torch.arange(frames).float().view(1, frames, 1, 1)) * math.pi
    features = torch.cat([angle.sin(), angle.cos(), (2 * angle).sin(), (2 * angle).cos()], dim=-1)
    return features @ projection + colour
