"""foresight-tiny: a small ``ForesightPipeline`` trained on ``SyntheticMotion`` with this library's own recipe.

Every part has the real architecture at toy size: an LTX-Video VAE (16x spatial, 2x temporal
compression, 32 latent channels), an LTX-Video transformer trained for image-to-video with flow
matching on T5 embeddings of the clip's label (a small T5 encoder with a word-level tokenizer over
the labels' vocabulary, trained with the transformer in its last run), and a Qwen2.5-VL
(byte-level tokenizer) fine-tuned for the pipeline's two questions: the motion prompt from two
context images, and a description of a clip.

The trained pipeline ships inside the package (:data:`ASSET_DIR`, about 20 MB): ``foresight predict
--model tiny`` and :func:`~foresight_models.pipelines.named.load_pipeline` load it by name, and
``ForesightPipeline.from_pretrained(foresight_tiny_path())`` loads it directly. Its model card (the
folder's ``README.md``) gives the training commands and the measured quality.

The model sees clips the way the pipeline does (:class:`~foresight_models.data.ForesightClips`):
two context frames :data:`CONTEXT_INDICES` of a 20-frame ``SyntheticMotion`` clip at 128x128, and
the 17-frame video that starts at the second one. The recipe:
:mod:`foresight_models.training.foresight_tiny` and ``docs/training.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ASSET_DIR",
    "CONTEXT_INDICES",
    "NUM_FRAMES",
    "SIZE",
    "T5_WORDS",
    "foresight_tiny_clips",
    "foresight_tiny_components",
    "foresight_tiny_path",
    "is_foresight_tiny",
]

# foresight-tiny's video transformer (besides its caption width) and the VAE's patch size: what
# :func:`is_foresight_tiny` recognises
_TRANSFORMER_ARCHITECTURE = {
    "in_channels": 32,
    "out_channels": 32,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 4,
    "attention_head_dim": 32,
    "cross_attention_dim": 128,
    "num_layers": 4,
}
_VAE_PATCH_SIZE = 8

#: The trained foresight-tiny pipeline folder inside the installed package.
ASSET_DIR = Path(__file__).resolve().parent / "assets" / "foresight-tiny"

#: Frame height and width of foresight-tiny's clips.
SIZE = 128
#: Frames of the predicted video (the first is the last context image).
NUM_FRAMES = 17
#: Which frames of a ``SyntheticMotion`` clip are the context images (3 frames apart, so the
#: direction of motion shows).
CONTEXT_INDICES = (0, 3)
#: Words of the SyntheticMotion labels, each one token of the T5 tokenizer.
T5_WORDS = (
    "moving pushing falling like rock from closer each other something and "
    "red green blue yellow purple orange square circle"
).split()


def foresight_tiny_path() -> str:
    """The folder of the trained foresight-tiny pipeline shipped with the package (:data:`ASSET_DIR`).

    Raises:
        FileNotFoundError: the package was installed without its data files (the folder or its
            ``model_index.json`` is missing).
    """
    if not (ASSET_DIR / "model_index.json").is_file():
        raise FileNotFoundError(
            f"foresight-tiny: no pipeline folder at {str(ASSET_DIR)!r}; this installation of foresight_models "
            "lacks its package data (reinstall it, e.g. `pip install --force-reinstall foresight_models`)"
        )
    return str(ASSET_DIR)


def is_foresight_tiny(pipe: Any) -> bool:
    """Whether ``pipe``'s video transformer and VAE have foresight-tiny's architecture (the shipped model,
    or one retrained with its recipe): such a pipeline works at :data:`SIZE` x :data:`SIZE`."""
    transformer, vae = getattr(pipe, "transformer", None), getattr(pipe, "vae", None)
    if transformer is None or vae is None:
        return False
    config = transformer.config
    return (
        all(config.get(key) == value for key, value in _TRANSFORMER_ARCHITECTURE.items())
        and vae.config.get("patch_size") == _VAE_PATCH_SIZE
    )


def foresight_tiny_clips(num_clips: int, *, seed: int):
    """``num_clips`` SyntheticMotion clips cut as foresight-tiny sees them (:class:`~foresight_models.data.ForesightClips`)."""
    from .data import ForesightClips, SyntheticMotion

    motion = SyntheticMotion(num_clips, frames=CONTEXT_INDICES[-1] + NUM_FRAMES, size=SIZE, seed=seed)
    return ForesightClips(motion, context_indices=CONTEXT_INDICES, num_frames=NUM_FRAMES)


def foresight_tiny_components(seed: int = 0) -> dict[str, Any]:
    """foresight-tiny's components at their initialisation (before training), by pipeline component name."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    from . import testing

    with testing.seeded(seed):
        vae = AutoencoderKLLTXVideo(
            in_channels=3,
            out_channels=3,
            latent_channels=32,
            block_out_channels=(32, 64),
            down_block_types=("LTXVideoDownBlock3D",) * 2,
            decoder_block_out_channels=(32, 64),
            layers_per_block=(1, 1, 1),
            decoder_layers_per_block=(1, 1, 1),
            spatio_temporal_scaling=(True, False),
            decoder_spatio_temporal_scaling=(True, False),
            decoder_inject_noise=(False, False, False),
            downsample_type=("conv", "conv"),
            upsample_residual=(False, False),
            upsample_factor=(1, 1),
            timestep_conditioning=False,
            patch_size=_VAE_PATCH_SIZE,
            patch_size_t=1,
            encoder_causal=True,
            decoder_causal=False,
        )
        transformer = LTXVideoTransformer3DModel(
            **_TRANSFORMER_ARCHITECTURE, caption_channels=testing.TINY_CAPTION_CHANNELS
        )
    vlm = testing.tiny_qwen2_5_vl(
        seed,
        text_config={
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]},
        },
        vision_config={
            "depth": 4,
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_heads": 4,
            "out_hidden_size": 128,
            "window_size": 56,
            "fullatt_block_indexes": [1, 3],
        },
    )
    return {
        "transformer": transformer.eval(),
        "vae": vae.eval(),
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "text_encoder": testing.tiny_t5_encoder(seed),
        "tokenizer": testing.tiny_t5_tokenizer(extra_words=tuple(T5_WORDS)),
        "vlm": vlm,
        "processor": testing.tiny_qwen2_5_vl_processor(max_side=140),
    }
