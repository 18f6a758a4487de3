"""The opt-in fast path and group offloading of ForesightPipeline, on the tiny components (CPU)."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from foresight_models import testing
from foresight_models.inputs import to_pil_images
from foresight_models.pipelines.fast_path import ACTIVE, PIECES, answer_batched
from foresight_models.pipelines.foresight_pipeline import MOTION_PROMPT_INSTRUCTION

SIZES = dict(height=32, width=32, num_frames=9, num_inference_steps=2, max_new_tokens=6)
LOGGER = "foresight_models.pipelines.fast_path"


@pytest.fixture
def pipe():
    return testing.tiny_pipeline()


@pytest.fixture(scope="module")
def scene():
    return testing.demo_image(32)


def test_fast_path_on_cpu_turns_unavailable_pieces_off_with_logged_reasons(pipe, scene, caplog):
    reference = pipe(scene, seed=3, output_type="pt", **SIZES)
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = pipe.enable_fast_path(attention_backend="_native_cudnn")

    assert set(status) == set(PIECES) and pipe.fast_path == status
    assert status["vlm_static_cache"] == ACTIVE and status["batched_answers"] == ACTIVE
    for piece in ("vlm_compile", "vlm_device_inputs", "transformer_compile", "attention_backend"):
        assert status[piece].startswith("off: ") and "cpu" in status[piece], (piece, status[piece])
    assert status["fp8"] == "off: not requested (fp8=False)"
    # diffusers' LTX attention processor never reads fused projections
    assert status["fuse_qkv"].startswith("off: ") and "LTXVideoAttnProcessor" in status["fuse_qkv"]
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == LOGGER)
    for piece, reason in status.items():
        assert f"{piece} is {reason}" in logged

    out = pipe(scene, seed=3, output_type="pt", **SIZES)
    assert out.frames.shape == reference.frames.shape
    # the static cache gives the same greedy prompt, hence the same video and description
    assert out.prompt == reference.prompt
    torch.testing.assert_close(out.frames, reference.frames, rtol=0, atol=1e-6)
    assert out.description == reference.description


def test_fp8_on_cpu_is_off_with_its_reason_and_changes_nothing(pipe, scene):
    reference = pipe(scene, prompt="go", seed=3, output_type="pt", **SIZES)
    weights = {name: p.clone() for name, p in pipe.transformer.named_parameters()}
    status = pipe.enable_fast_path(fp8=True, compile=False)
    assert status["fp8"] == "off: the transformer is on cpu; float8 matrix products need a CUDA device"
    out = pipe(scene, prompt="go", seed=3, output_type="pt", **SIZES)
    torch.testing.assert_close(out.frames, reference.frames, rtol=0, atol=0)
    for name, p in pipe.transformer.named_parameters():
        assert type(p.data) is torch.Tensor and torch.equal(p, weights[name]), name


def test_vlm_device_inputs_give_the_vlm_the_pixels_of_the_pil_images(pipe, scene, monkeypatch):
    """With ``vlm_device_inputs`` the processor gets the frames as uint8 tensors and prepares them on the
    VLM's device. The piece is on only on CUDA; switched on here on the CPU, the processor does the same
    work as from PIL images, so every answer must stay the same."""
    call = dict(seed=1, output_type="pt", num_continuations=2, rate=True, **SIZES)
    reference = pipe(scene, **call)
    clip = reference.frames[0]
    described = pipe.describe(clip)
    pipe.enable_fast_path(static_cache=False, compile=False)
    assert "cpu" in pipe.fast_path["vlm_device_inputs"]
    pipe._fast_path.status["vlm_device_inputs"] = ACTIVE  # as enable_fast_path sets it on a CUDA device
    seen = []
    processor_call = type(pipe.processor).__call__

    def recording(self, *args, **kwargs):
        seen.append((kwargs.get("device"), kwargs.get("videos")))
        return processor_call(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe.processor), "__call__", recording)
    out = pipe(scene, **call)  # two clips: described and rated in one batch
    assert (out.prompt, out.description, out.ratings) == (reference.prompt, reference.description, reference.ratings)
    assert pipe.describe(clip) == described  # one clip, one generate call
    assert seen and all(device == torch.device("cpu") for device, _ in seen)
    videos = [video for _, row in seen if row is not None for video in row]
    assert videos and all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in videos)


def test_disable_fast_path_restores_the_stock_configuration(pipe, scene):
    generation = pipe.vlm.generation_config
    fields = ("cache_implementation", "compile_config", "disable_compile", "max_cache_len")
    before = [getattr(generation, name) for name in fields]
    pipe.enable_fast_path(vlm_cache_length=512)
    assert generation.cache_implementation == "static" and generation.max_cache_len == 512
    pipe.disable_fast_path()
    assert pipe.fast_path == {}
    assert [getattr(generation, name) for name in fields] == before
    pipe.disable_fast_path()  # a second call is a no-op


def test_enabling_twice_reapplies_from_the_stock_state(pipe):
    pipe.enable_fast_path(static_cache=True)
    status = pipe.enable_fast_path(static_cache=False, batched_answers=False)
    assert status["vlm_static_cache"] == "off: static_cache=False"
    assert status["batched_answers"] == "off: batched_answers=False"
    assert pipe.vlm.generation_config.cache_implementation is None


def test_hub_attention_backends_are_refused_without_downloading(pipe):
    status = pipe.enable_fast_path(attention_backend="flash_hub")
    assert "downloads its kernel" in status["attention_backend"]


def test_fast_path_without_a_vlm_turns_its_vlm_pieces_off():
    pipe = testing.tiny_pipeline(vlm=False)
    status = pipe.enable_fast_path()
    for piece in ("vlm_static_cache", "vlm_compile", "batched_answers"):
        assert status[piece] == "off: the pipeline has no vlm"


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        (dict(compile="both"), ValueError, "compile"),
        (dict(static_cache="yes"), TypeError, "static_cache"),
        (dict(attention_backend=3), TypeError, "attention_backend"),
        (dict(fp8=1), TypeError, "fp8"),
        (dict(device_inputs="no"), TypeError, "device_inputs"),
        (dict(vlm_cache_length=0), ValueError, "vlm_cache_length"),
    ],
)
def test_fast_path_arguments_are_checked(pipe, options, error, name):
    with pytest.raises(error, match=name):
        pipe.enable_fast_path(**options)
    assert pipe.fast_path == {}


def test_default_path_equals_the_stock_sequence(pipe, scene):
    """VLM ``generate`` writes the prompt, then diffusers' LTXImageToVideoPipeline: the pipeline's default
    path gives the same prompt and the same frames for the same components and seed."""
    from diffusers import LTXImageToVideoPipeline

    processor, vlm = pipe.processor, pipe.vlm
    content = [{"type": "image"}, {"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]
    text = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    inputs = processor(text=[text], images=[scene], return_tensors="pt")
    ids = vlm.generate(**inputs, max_new_tokens=6, do_sample=False)
    prompt = processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
    names = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer")
    ltx = LTXImageToVideoPipeline(**{name: getattr(pipe, name) for name in names})
    ltx.set_progress_bar_config(disable=True)
    video = dict(height=32, width=32, num_frames=9, num_inference_steps=2, guidance_scale=3.0, decode_timestep=0.05)
    expected = ltx(image=scene, prompt=prompt, generator=torch.Generator().manual_seed(5), output_type="pt", **video)

    out = pipe(scene, seed=5, output_type="pt", max_new_tokens=6, **video)
    assert out.prompt == prompt
    torch.testing.assert_close(out.frames, expected.frames, rtol=0, atol=1e-6)


def test_batched_answers_equal_one_generate_per_clip(pipe):
    processor, vlm = pipe.processor, pipe.vlm
    red = torch.zeros(4, 3, 32, 32)
    red[:, 0] = 1.0
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    clips = [to_pil_images(c) for c in (torch.zeros(4, 3, 32, 32), torch.ones(4, 3, 32, 32), red, noise)]
    content = [{"type": "video"}, {"type": "text", "text": "What happens next?"}]
    text = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    sequential = []
    for clip in clips:
        inputs = processor(text=[text], videos=[clip], return_tensors="pt")
        ids = vlm.generate(**inputs, max_new_tokens=10, do_sample=False)
        sequential.append(
            processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
        )
    assert len(set(sequential)) == 4  # each clip gets its own answer, so a mix-up of rows would show

    batched = answer_batched(pipe, [content] * len(clips), images=None, videos=[[c] for c in clips], max_new_tokens=10)
    assert batched == sequential


def test_batched_answers_with_left_padding_equal_one_generate_per_row(pipe, scene):
    """Rows of different lengths (different questions) are left-padded; each answer is still its own."""
    processor, vlm = pipe.processor, pipe.vlm
    questions = ["What happens?", "Which object moves first, and where does it go after that?"]
    contents = [[{"type": "image"}, {"type": "text", "text": q}] for q in questions]
    sequential = []
    for content in contents:
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        inputs = processor(text=[text], images=[scene], return_tensors="pt")
        ids = vlm.generate(**inputs, max_new_tokens=8, do_sample=False)
        sequential.append(
            processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
        )
    batched = answer_batched(pipe, contents, images=[[scene], [scene]], videos=None, max_new_tokens=8)
    assert batched == sequential


def test_several_continuations_described_and_rated_in_one_batch_match_the_default(pipe, scene):
    call = dict(seed=1, output_type="pt", num_continuations=3, rate=True, **SIZES)
    reference = pipe(scene, prompt="the ball rolls", **call)
    pipe.enable_fast_path(static_cache=False, compile=False)
    out = pipe(scene, prompt="the ball rolls", **call)
    assert pipe.fast_path["batched_answers"] == ACTIVE
    torch.testing.assert_close(out.frames, reference.frames, rtol=0, atol=0)
    assert out.description == reference.description and out.ratings == reference.ratings
    assert [math.isnan(s) for s in out.scores] == [math.isnan(s) for s in reference.scores]
    assert [s for s in out.scores if not math.isnan(s)] == [s for s in reference.scores if not math.isnan(s)]


def test_batched_answers_stream_one_description_event_per_clip(pipe, scene):
    from foresight_models.pipelines.events import Description, TextDelta

    pipe.enable_fast_path()
    events = list(pipe.stream(scene, prompt="go", seed=0, num_continuations=2, rate=False, **SIZES))
    descriptions = [e for e in events if isinstance(e, Description)]
    assert sorted(e.index for e in descriptions) == [0, 1]
    assert not any(isinstance(e, TextDelta) and e.stage == "description" for e in events)


# --------------------------------------------------------------------------------------------------
# group offloading
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offload_type", ["block_level", "leaf_level"])
def test_group_offload_gives_the_same_frames_and_answers(pipe, scene, offload_type):
    expected = pipe(scene, seed=2, output_type="pt", **SIZES)
    pipe.enable_group_offload("cpu", offload_type=offload_type)
    out = pipe(scene, seed=2, output_type="pt", **SIZES)
    torch.testing.assert_close(out.frames, expected.frames)
    assert out.prompt == expected.prompt and out.description == expected.description


def test_group_offload_covers_components_that_share_modules(scene):
    """A hybrid encoder holds the pipeline's DINOv2 and VLM; each module is offloaded once."""
    pipe = testing.tiny_pipeline(adapter=True, hybrid_encoder=True, conditioning=True)
    expected = pipe(scene, prompt="go", seed=4, output_type="pt", **SIZES)
    pipe.enable_group_offload("cpu")
    out = pipe(scene, prompt="go", seed=4, output_type="pt", **SIZES)
    torch.testing.assert_close(out.frames, expected.frames)


def test_group_offload_arguments_are_checked(pipe):
    with pytest.raises(ValueError, match="exclude_modules"):
        pipe.enable_group_offload("cpu", exclude_modules=["unet"])
    with pytest.raises(ValueError, match="offload_type"):
        pipe.enable_group_offload("cpu", offload_type="model_level")
