"""ForesightPipeline.describe: the VLM describes any clip exactly as stage 4 describes a predicted one, and a
pipeline as the predictor of the SyntheticMotion evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foresight_models import testing
from foresight_models.data import ForesightClips, SyntheticMotion
from foresight_models.evaluation import evaluate_synthetic_foresight, pipeline_predictor

TOKENS = 6


@pytest.fixture(scope="module")
def pipe():
    return testing.tiny_pipeline()


@pytest.fixture(scope="module")
def clips():
    return ForesightClips(SyntheticMotion(2, frames=12, size=32, seed=1000), context_indices=(0, 3), num_frames=9)


def test_describe_equals_the_description_of_a_call(pipe, clips):
    context = list(clips[0]["context"])
    call = dict(height=32, width=32, num_frames=9, num_inference_steps=2, seed=3, max_new_tokens=TOKENS)
    out = pipe(context, prompt="a red circle moves", output_type="pt", question="What happens?", **call)
    assert pipe.describe(out.frames[0], "What happens?", max_new_tokens=TOKENS) == out.description[0]
    # a smaller frame budget changes what the VLM sees, as it does in a call
    budget = pipe(context, prompt="a red circle moves", output_type="pt", max_description_frames=2, **call)
    assert pipe.describe(budget.frames[0], max_new_tokens=TOKENS, max_description_frames=2) == budget.description[0]
    assert pipe.describe(budget.frames[0], max_new_tokens=TOKENS) != budget.description[0]


def test_describe_reads_uint8_float_pil_and_batches_alike(pipe, clips):
    video = clips[0]["video"]  # uint8 (9, 3, 32, 32)
    text = pipe.describe(video, max_new_tokens=TOKENS)
    assert isinstance(text, str)
    assert pipe.describe(video.float() / 255, max_new_tokens=TOKENS) == text
    assert pipe.describe(video.permute(0, 2, 3, 1).numpy(), max_new_tokens=TOKENS) == text
    from foresight_models.inputs import to_pil_images

    assert pipe.describe(to_pil_images(video.float() / 255), max_new_tokens=TOKENS) == text
    other = clips[1]["video"]
    batch = pipe.describe(torch.stack([video, other]), max_new_tokens=TOKENS)
    assert batch == [text, pipe.describe(other, max_new_tokens=TOKENS)]


def test_describe_validates_its_arguments(pipe, clips):
    video = clips[0]["video"]
    with pytest.raises(ValueError, match="question"):
        pipe.describe(video, "  ")
    with pytest.raises(ValueError, match="max_new_tokens"):
        pipe.describe(video, max_new_tokens=0)
    with pytest.raises(ValueError, match="video"):
        pipe.describe(torch.full((2, 3, 8, 8), 2.0))
    with pytest.raises(ValueError, match="vlm"):
        testing.tiny_pipeline(vlm=False).describe(video)


def test_pipeline_predictor_prompts_and_describes(pipe, clips):
    arguments = dict(num_inference_steps=1, max_new_tokens=TOKENS)
    labelled = evaluate_synthetic_foresight(pipeline_predictor(pipe, prompt="label", **arguments), clips)
    assert labelled.prompts == [clips[i]["label"] for i in range(2)]
    assert len(labelled.generated_descriptions) == 2
    empty = evaluate_synthetic_foresight(pipeline_predictor(pipe, prompt="empty", describe=False, **arguments), clips)
    assert empty.prompts == ["", ""] and empty.generated_descriptions is None
    # the VLM writes the prompt; the real clips are described by pipe.describe
    written = evaluate_synthetic_foresight(
        pipeline_predictor(pipe, prompt="vlm", **arguments),
        clips,
        describe=lambda video: pipe.describe(video, max_new_tokens=TOKENS),
    )
    assert all(isinstance(p, str) for p in written.prompts)
    assert written.real_descriptions == [pipe.describe(clips[i]["video"], max_new_tokens=TOKENS) for i in range(2)]
    for result in (labelled, empty, written):
        assert result.centre_error["prediction"].shape == (2, 8)
        assert np.isfinite(result.centre_error["prediction"]).all()
    with pytest.raises(ValueError, match="prompt"):
        pipeline_predictor(pipe, prompt="caption")
