"""Which diffusers pipeline denoises a call, by how the context images condition the video.

- ``"last"`` (default): ``LTXImageToVideoPipeline``; the last context image is frame 0 of the clip and
  the video continues from it. The other context images only reach the video through the motion
  prompt (and the adapter, when there is one).
- ``"all"``: ``LTXConditionPipeline``; context image ``i`` of ``k`` conditions frame ``i`` of the clip
  (``LTXVideoCondition(image, frame_index=i)``): the first image replaces latent frame 0, the others
  enter as keyframe tokens at their frame positions, so the clip's first ``k`` frames reproduce the
  context, in order, and the video continues from the last one. The condition images are noised with
  ``image_cond_noise_scale = IMAGE_COND_NOISE_SCALE`` (upstream advice for LTX >= 0.9.1). This needs
  an LTX-Video checkpoint that supports multi-frame conditioning (0.9.5 and later).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTEXT_CONDITIONING", "IMAGE_COND_NOISE_SCALE", "image_arguments", "inner_pipeline"]

CONTEXT_CONDITIONING = ("last", "all")
IMAGE_COND_NOISE_SCALE = 0.025


def inner_pipeline(mode: str, components: dict[str, Any], scheduler: Any):
    """The diffusers pipeline of ``mode``, built from the given component objects and scheduler."""
    from diffusers import LTXConditionPipeline, LTXImageToVideoPipeline

    cls = LTXImageToVideoPipeline if mode == "last" else LTXConditionPipeline
    return cls(**components, scheduler=scheduler)


def image_arguments(context: list, mode: str, *, rows: int, generator_list: bool) -> dict[str, Any]:
    """The inner pipeline's image arguments for ``context`` (PIL images, oldest first)."""
    if mode == "last":
        # with one generator per continuation, diffusers encodes the image once per row
        return {"image": [context[-1]] * rows if generator_list else context[-1]}
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    conditions = [LTXVideoCondition(image=image, frame_index=i) for i, image in enumerate(context)]
    return {"conditions": conditions, "image_cond_noise_scale": IMAGE_COND_NOISE_SCALE}
