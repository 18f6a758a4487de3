"""context_conditioning: every context image conditions the video ("all") or only the last one ("last")."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from foresight_models import testing

FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2, output_type="pt", prompt="go", seed=0)


@pytest.fixture
def context():
    last = testing.demo_image(64)
    return [last.transpose(Image.FLIP_LEFT_RIGHT), last]


def test_last_is_the_default_and_ignores_the_earlier_images(context):
    pipe = testing.tiny_pipeline(vlm=False)
    default = pipe(context, **FAST).frames
    assert torch.equal(pipe(context, context_conditioning="last", **FAST).frames, default)
    other_first = [Image.new("RGB", (64, 64), (255, 0, 0)), context[1]]
    assert torch.equal(pipe(other_first, **FAST).frames, default)  # without a VLM, only the last image counts
    assert torch.equal(pipe(context[-1:], **FAST).frames, default)


def test_all_conditions_on_every_context_image(context):
    pipe = testing.tiny_pipeline(vlm=False)
    conditioned = pipe(context, context_conditioning="all", **FAST).frames
    assert conditioned.shape == (1, 9, 3, 32, 32)
    assert not torch.equal(conditioned, pipe(context, **FAST).frames)
    other_first = [Image.new("RGB", (64, 64), (255, 0, 0)), context[1]]
    changed = pipe(other_first, context_conditioning="all", **FAST).frames
    assert not torch.allclose(changed, conditioned, atol=1e-3)  # the first image reaches the video
    assert torch.equal(pipe(context, context_conditioning="all", **FAST).frames, conditioned)
    other_second = [context[0], Image.new("RGB", (64, 64), (0, 255, 0))]
    changed_second = pipe(other_second, context_conditioning="all", **FAST).frames
    assert (changed_second - conditioned).abs().max() > 1e-5  # the second image (a keyframe at frame 1) too
    # frame 0 is the first context image's: replacing it moves frame 0 far more than replacing the second
    first_effect = (changed[0, 0] - conditioned[0, 0]).abs().mean()
    second_effect = (changed_second[0, 0] - conditioned[0, 0]).abs().mean()
    assert first_effect > 5 * second_effect


def test_all_refuses_what_the_condition_pipeline_cannot_do(context):
    pipe = testing.tiny_pipeline(vlm=False)
    with pytest.raises(ValueError, match="latents.*context_conditioning='all'"):
        pipe(context, context_conditioning="all", latents=torch.zeros(1, 192, 8), **FAST)
    with pytest.raises(ValueError, match="context_conditioning='all'.*10 context images.*num_frames=9"):
        pipe(context * 5, context_conditioning="all", **FAST)
    with pytest.raises(ValueError, match="context_conditioning='all' with 2 context images.*num_continuations=2"):
        pipe(context, context_conditioning="all", num_continuations=2, **FAST)
    one_image = pipe(context[-1:], context_conditioning="all", num_continuations=2, **FAST).frames
    assert one_image.shape[0] == 2 and not torch.equal(one_image[0], one_image[1])
    injected = testing.tiny_pipeline(vlm=True, adapter=True, conditioning=True)
    with pytest.raises(ValueError, match="context_conditioning='all'.*adapter tokens"):
        injected(context, context_conditioning="all", **FAST)
