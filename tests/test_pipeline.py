"""ForesightPipeline on the tiny components: generation, streaming, ranking, saving and loading, hooks, validation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest
import torch
from PIL import Image

from foresight_models import conditioning, testing
from foresight_models.pipelines.critic import parse_rating, rank_best_first
from foresight_models.pipelines.events import Description, Done, Frames, Progress, TextDelta
from foresight_models.pipelines.foresight_pipeline import ForesightPipeline, ForesightPipelineOutput

# 9 frames of 32x32 in 2 steps; 4 new VLM tokens per answer.
FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2, max_new_tokens=4, max_description_frames=4)
FAST_20_STEPS = {**FAST, "num_inference_steps": 20}


@pytest.fixture
def pipe():
    return testing.tiny_pipeline()


@pytest.fixture
def scene():
    return testing.demo_image(64)


def assert_same_output(a: ForesightPipelineOutput, b: ForesightPipelineOutput) -> None:
    assert torch.equal(a.frames, b.frames)
    assert a.description == b.description
    assert a.prompt == b.prompt
    assert a.seed == b.seed
    assert a.order == b.order
    assert (a.scores is None) == (b.scores is None)
    if a.scores is not None:
        np.testing.assert_array_equal(np.array(a.scores), np.array(b.scores))


# --------------------------------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------------------------------


def test_output_types_hold_the_same_clip(pipe, scene):
    pt = pipe(scene, seed=0, output_type="pt", **FAST)
    np_out = pipe(scene, seed=0, output_type="np", **FAST)
    pil = pipe(scene, seed=0, output_type="pil", **FAST)
    assert pt.frames.shape == (1, 9, 3, 32, 32)
    assert np_out.frames.shape == (1, 9, 32, 32, 3)
    assert len(pil.frames) == 1 and len(pil.frames[0]) == 9 and pil.frames[0][0].size == (32, 32)
    np.testing.assert_array_equal(np_out.frames, pt.frames.permute(0, 1, 3, 4, 2).numpy())
    expected = (pt.frames[0, 4].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(np.asarray(pil.frames[0][4]), expected)
    assert pt.description == np_out.description == pil.description
    assert len(pt.description) == 1 and isinstance(pt.description[0], str)
    assert isinstance(pt.prompt, str) and pt.prompt  # written by the VLM
    assert pt.scores is None and pt.seed == 0


def test_fixed_generator_repeats_and_another_seed_differs(pipe, scene):
    a = pipe(scene, generator=torch.Generator().manual_seed(3), output_type="pt", **FAST)
    b = pipe(scene, generator=torch.Generator().manual_seed(3), output_type="pt", **FAST)
    c = pipe(scene, seed=4, output_type="pt", **FAST)
    assert_same_output(a, b)
    assert a.seed == 3
    assert not torch.equal(a.frames, c.frames)
    again = pipe(scene, seed=a.seed, output_type="pt", **FAST)  # the reported seed reproduces the call
    assert torch.equal(again.frames, a.frames)


def test_several_images_the_video_continues_the_last_one(pipe, scene):
    first = Image.new("RGB", (64, 64), (10, 200, 30))
    several = pipe([first, scene], prompt="the ball rolls down", seed=1, output_type="pt", **FAST)
    last_only = pipe(scene, prompt="the ball rolls down", seed=1, output_type="pt", **FAST)
    first_only = pipe(first, prompt="the ball rolls down", seed=1, output_type="pt", **FAST)
    assert torch.equal(several.frames, last_only.frames)
    assert not torch.equal(several.frames, first_only.frames)


def test_vlm_writes_the_prompt_from_all_context_images(pipe, scene):
    prompt_events = []
    for event in pipe.stream([Image.new("RGB", (64, 64), (10, 200, 30)), scene], seed=0, output_type="pt", **FAST):
        if isinstance(event, TextDelta) and event.stage == "prompt":
            prompt_events.append(event.text)
        if isinstance(event, Done):
            out = event.output
    assert "".join(prompt_events).strip() == out.prompt


def test_context_as_video_asks_the_vlm_with_the_context_as_one_video(scene, tmp_path):
    """With ``context_as_video`` the motion prompt is what ``generate`` answers to the context images given
    as one video; the setting is saved in ``model_index.json`` and can be overridden when loading."""
    from foresight_models.pipelines.foresight_pipeline import MOTION_PROMPT_INSTRUCTION

    pipe = testing.tiny_pipeline()
    images = [Image.new("RGB", (64, 64), (10, 200, 30)), scene]
    as_images = pipe(images, seed=0, output_type="pt", **FAST).prompt
    pipe.register_to_config(context_as_video=True)
    out = pipe(images, seed=0, output_type="pt", **FAST)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]}]
    text = pipe.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = pipe.processor(text=[text], videos=[images], return_tensors="pt")
    ids = pipe.vlm.generate(**inputs, max_new_tokens=FAST["max_new_tokens"], do_sample=False)
    expected = pipe.processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
    assert out.prompt == expected.strip()
    assert inputs["video_grid_thw"][0, 0] == 1  # both images in one temporal patch
    pipe.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "model_index.json").read_text())["context_as_video"] is True
    assert ForesightPipeline.from_pretrained(tmp_path / "saved").config.context_as_video is True
    reloaded = ForesightPipeline.from_pretrained(tmp_path / "saved", context_as_video=False)
    assert reloaded(images, seed=0, output_type="pt", **FAST).prompt == as_images
    with pytest.raises(TypeError, match="context_as_video"):
        ForesightPipeline(**testing.tiny_pipeline_components(), context_as_video="yes")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_images_of_any_mode_are_converted_to_rgb(pipe, scene, mode):
    image = scene.convert(mode)
    out = pipe(image, prompt="go", seed=0, output_type="pt", **FAST)
    reference = pipe(image.convert("RGB"), prompt="go", seed=0, output_type="pt", **FAST)
    assert torch.equal(out.frames, reference.frames)


def test_array_and_tensor_images_match_pil(pipe, scene):
    array = np.array(scene)  # writable, as torch.from_numpy prefers
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
    outs = [pipe(x, prompt="go", seed=0, output_type="pt", **FAST).frames for x in (scene, array, tensor)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_frames_equal_diffusers_ltx_image_to_video(pipe, scene):
    from diffusers import LTXImageToVideoPipeline

    names = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer")
    ltx = LTXImageToVideoPipeline(**{name: getattr(pipe, name) for name in names})
    ltx.set_progress_bar_config(disable=True)
    prompt = "the red ball rolls down the ramp"
    kwargs = dict(height=32, width=32, num_frames=9, num_inference_steps=2, guidance_scale=3.0, decode_timestep=0.05)
    expected = ltx(image=scene, prompt=prompt, generator=torch.Generator().manual_seed(7), output_type="pt", **kwargs)
    out = pipe(scene, prompt=prompt, seed=7, output_type="pt", max_new_tokens=4, **kwargs)
    assert torch.equal(out.frames, expected.frames)


def test_latent_output_skips_the_description(pipe, scene):
    out = pipe(scene, prompt="go", seed=0, output_type="latent", **FAST)
    # packed latents: (n, latent frames * h * w, channels) = (1, 3 * 8 * 8, 8)
    assert out.frames.shape == (1, 3 * 8 * 8, 8)
    assert out.description is None


# --------------------------------------------------------------------------------------------------
# several continuations, the critic
# --------------------------------------------------------------------------------------------------


def test_three_continuations_are_different_described_and_sorted(pipe, scene):
    out = pipe(scene, prompt="the ball rolls", num_continuations=3, seed=0, output_type="pt", **FAST)
    assert out.frames.shape[0] == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert not torch.equal(out.frames[i], out.frames[j])
    assert len(out.description) == 3 and len(out.scores) == 3 and len(out.ratings) == 3
    assert sorted(out.order) == [0, 1, 2]
    assert out.scores == [out.scores[i] for i in rank_best_first(out.scores)]  # already best first
    for score, answer in zip(out.scores, out.ratings):
        parsed = parse_rating(answer)
        assert (math.isnan(score) and math.isnan(parsed)) or score == parsed
    # the clips are the batch generation's, reordered by the ranking
    unsorted = pipe(scene, prompt="the ball rolls", num_continuations=3, seed=0, rate=False, output_type="pt", **FAST)
    assert unsorted.order == [0, 1, 2] and unsorted.scores is None
    for rank, index in enumerate(out.order):
        assert torch.equal(out.frames[rank], unsorted.frames[index])
        assert out.description[rank] == unsorted.description[index]


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("8", 8.0),
        ("Score: 7.5/10", 7.5),
        ("I'd say 9.", 9.0),
        ("0", 0.0),
        ("10 out of 10", 10.0),
        (".5", 0.5),
        ("8/10", 8.0),
        ("Rating: 7.5", 7.5),
        ("I'd say 6 out of 10", 6.0),
        ("On a scale from 0 to 10, I give it 8.", 8.0),
        ("Rated between 0 and 10, this continuation gets 8", 8.0),
        ("On a 0-10 scale: 3", 3.0),
        ("First I thought 4, but on reflection 7.", 7.0),
    ],
)
def test_parse_rating_reads_the_rating_not_the_scale(answer, score):
    assert parse_rating(answer) == score


@pytest.mark.parametrize("answer", ["plausible", "", "42", "-3", "11 / 10", "E9", "no idea", "11", "Model v2 says 3D"])
def test_parse_rating_without_a_number_in_range_is_nan(answer):
    assert math.isnan(parse_rating(answer))


def test_rank_best_first_puts_nan_last():
    assert rank_best_first([3.0, math.nan, 9.0, 3.0, math.nan]) == [2, 0, 3, 1, 4]


# --------------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------------


def test_stream_text_before_frames_ends_with_done_and_equals_call(pipe, scene):
    events = list(pipe.stream(scene, num_continuations=2, seed=5, output_type="pt", **FAST))
    kinds = [type(e) for e in events]
    assert kinds[0] is TextDelta and events[0].stage == "prompt"
    assert kinds.index(TextDelta) < kinds.index(Frames)
    assert kinds[-1] is Done and kinds.count(Done) == 1
    assert [(e.step, e.total) for e in events if isinstance(e, Progress)] == [(1, 2), (2, 2)]
    assert kinds.index(Progress) > max(i for i, e in enumerate(events) if isinstance(e, TextDelta) and e.stage == "prompt")
    assert sorted(e.index for e in events if isinstance(e, Frames)) == [0, 1]
    described = {e.index: e for e in events if isinstance(e, Description)}
    assert sorted(described) == [0, 1]
    streamed = events[-1].output
    assert_same_output(streamed, pipe(scene, num_continuations=2, seed=5, output_type="pt", **FAST))
    for rank, index in enumerate(streamed.order):
        assert described[index].text == streamed.description[rank]


def test_stream_raises_errors_of_the_worker(pipe, scene):
    with pytest.raises(ValueError, match="num_frames"):
        list(pipe.stream(scene, **{**FAST, "num_frames": 10}))
    with pytest.raises(TypeError, match="num_frame"):  # an unknown argument fails at the call, as with __call__
        pipe.stream(scene, num_frame=9)


def test_stream_stages_run_in_order_prompt_video_descriptions(pipe, scene):
    """The motion prompt conditions the video, so its text streams before the first denoising step;
    the descriptions stream after the frames are decoded."""
    events = list(pipe.stream(scene, num_continuations=2, seed=0, output_type="pt", **FAST))
    stages = []
    for event in events:
        stage = event.stage if isinstance(event, TextDelta) else type(event).__name__
        if not stages or stages[-1] != stage:
            stages.append(stage)
    assert stages[:3] == ["prompt", "Progress", "Frames"]
    assert stages[-1] == "Done"
    assert set(stages[3:-1]) == {"description", "rating", "Description"}


def test_leaving_a_stream_early_stops_the_worker_at_its_next_event(pipe, scene):
    threads = set(threading.enumerate())
    left = threading.Event()
    steps = []

    def wait_for_the_consumer(ltx, step, timestep, tensors):
        steps.append(step)
        assert left.wait(timeout=60)
        return {}

    events = pipe.stream(scene, seed=0, output_type="pt", callback_on_step_end=wait_for_the_consumer, **FAST_20_STEPS)
    first = next(events)
    assert isinstance(first, TextDelta) and first.stage == "prompt"
    left.set()
    events.close()  # returns once the worker has stopped
    assert set(threading.enumerate()) == threads
    assert 1 <= len(steps) <= 3  # of 20: the worker stopped at its next Progress event
    finished = list(steps)
    out = pipe(scene, seed=0, output_type="pt", **FAST)  # the pipeline is free again
    assert out.frames.shape == (1, 9, 3, 32, 32) and steps == finished


# --------------------------------------------------------------------------------------------------
# saving and loading
# --------------------------------------------------------------------------------------------------


def test_save_load_both_entry_points_identical_outputs_and_model_card(pipe, scene, tmp_path):
    from diffusers import DiffusionPipeline
    from huggingface_hub import ModelCard

    pipe.save_pretrained(tmp_path, base_models=["Lightricks/LTX-Video", "Qwen/Qwen2.5-VL-7B-Instruct"])
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "ForesightPipeline"
    assert index["vlm"] == ["transformers", "Qwen2_5_VLForConditionalGeneration"]
    assert index["adapter"] == [None, None]
    assert list((tmp_path / "transformer").glob("*.safetensors"))
    assert not list(tmp_path.rglob("*.bin"))

    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "diffusers"
    assert card.data.pipeline_tag == "image-to-video"
    assert card.data.base_model == ["Lightricks/LTX-Video", "Qwen/Qwen2.5-VL-7B-Instruct"]
    assert "foresight_models" in card.data.tags
    assert card.text.lstrip().startswith("# ")

    expected = pipe(scene, seed=2, output_type="pt", **FAST)
    for cls in (ForesightPipeline, DiffusionPipeline):
        loaded = cls.from_pretrained(tmp_path, local_files_only=True)
        assert type(loaded) is ForesightPipeline
        loaded.set_progress_bar_config(disable=True)
        assert_same_output(loaded(scene, seed=2, output_type="pt", **FAST), expected)


def test_save_load_adapter_conditioning_and_no_text_encoder(scene, tmp_path):
    pipe = testing.tiny_pipeline(text_encoder=False, adapter=True, conditioning=True)
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["adapter"] == ["foresight_models.models.adapters", "QueryAdapter"]
    assert index["conditioning"] == ["foresight_models.conditioning", "LTXConditioningAdapter"]
    assert index["text_encoder"] == [None, None]
    loaded = ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.text_encoder is None
    assert_same_output(
        loaded(scene, prompt="go", seed=0, output_type="pt", **FAST), pipe(scene, prompt="go", seed=0, output_type="pt", **FAST)
    )


def test_plain_diffusers_loads_after_importing_the_package_only(tmp_path):
    # our components (adapter, conditioning) are found with no import but ``import foresight_models``
    testing.tiny_pipeline(text_encoder=False, adapter=True, conditioning=True).save_pretrained(tmp_path)
    script = (
        "import importlib, sys, foresight_models\n"
        "assert 'diffusers' not in sys.modules and 'transformers' not in sys.modules\n"
        "import diffusers\n"
        "assert type(diffusers).__name__ == '_LazyModule'  # diffusers' own module class, not replaced\n"
        "diffusers = importlib.reload(diffusers)  # a new module object: it is extended again\n"
        f"pipe = diffusers.DiffusionPipeline.from_pretrained({str(tmp_path)!r})\n"
        "assert type(pipe.adapter).__name__ == 'QueryAdapter' and pipe.conditioning is not None\n"
        f"assert foresight_models.ForesightPipeline.from_pretrained({str(tmp_path)!r}).adapter is not None\n"
        "print(type(pipe).__module__, type(pipe).__name__)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["foresight_models.pipelines.foresight_pipeline", "ForesightPipeline"]


def test_registry_extends_a_lazy_module_once_and_keeps_its_own_lookup():
    from foresight_models import _diffusers_registry

    class LazyModule(types.ModuleType):  # like diffusers' ``_LazyModule``
        def __getattr__(self, name):
            if name == "Lazy":
                return "lazy value"
            raise AttributeError(name)

    module = LazyModule("fake_diffusers")
    _diffusers_registry._extend(module)
    extended = module.__dict__["__getattr__"]
    _diffusers_registry._extend(module)
    assert module.__dict__["__getattr__"] is extended  # idempotent
    assert module.ForesightPipeline is ForesightPipeline
    assert module.Lazy == "lazy value"
    with pytest.raises(AttributeError):
        getattr(module, "Missing")  # noqa: B009
    _diffusers_registry.install()
    _diffusers_registry.install()
    finders = [f for f in sys.meta_path if type(f).__name__ == "_ExtendDiffusersOnImport"]
    assert len(finders) == 1


def test_from_components_with_folders_and_loaded_modules(scene, tmp_path):
    testing.tiny_ltx_pipeline().save_pretrained(tmp_path / "ltx")
    testing.tiny_qwen2_5_vl().save_pretrained(tmp_path / "vlm")
    testing.tiny_qwen2_5_vl_processor().save_pretrained(tmp_path / "vlm")
    from_folders = ForesightPipeline.from_components(tmp_path / "ltx", tmp_path / "vlm", local_files_only=True)
    from_modules = ForesightPipeline.from_components(
        testing.tiny_ltx_pipeline(), testing.tiny_qwen2_5_vl(), processor=testing.tiny_qwen2_5_vl_processor()
    )
    assert from_folders.base_models == []  # local folders are not Hub ids
    for p in (from_folders, from_modules):
        p.set_progress_bar_config(disable=True)
    assert_same_output(
        from_folders(scene, seed=0, output_type="pt", **FAST), from_modules(scene, seed=0, output_type="pt", **FAST)
    )


def test_from_components_missing_checkpoint_names_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(OSError, match="hf download Lightricks/LTX-Video"):
        ForesightPipeline.from_components("Lightricks/LTX-Video", None, local_files_only=True)
    with pytest.raises(ValueError, match="no-such-ltx.*neither an existing folder nor a Hub id"):
        ForesightPipeline.from_components(str(tmp_path / "no-such-ltx"), None, local_files_only=True)


# --------------------------------------------------------------------------------------------------
# adapter and conditioning
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_conditioning", [True, False])
def test_adapter_hook_active_during_generation_and_removed_after(scene, with_conditioning):
    pipe = testing.tiny_pipeline(adapter=True, conditioning=with_conditioning)
    processors = [block.attn2.processor for block in pipe.transformer.transformer_blocks]
    seen = []

    def spy(ltx, step, timestep, tensors):
        hooks = conditioning._INSTALLED.get(pipe.transformer)
        seen.append(None if hooks is None else (hooks.mode, hooks.frames, hooks.installed))
        return {}

    out = pipe(scene, prompt="go", seed=0, output_type="pt", callback_on_step_end=spy, **FAST)
    mode = "cross_attention" if with_conditioning else "prompt"
    assert seen == [(mode, (0,), True)] * 2
    assert pipe.transformer not in conditioning._INSTALLED
    assert [block.attn2.processor for block in pipe.transformer.transformer_blocks] == processors
    # one transformer layer: tokens injected on latent frame 0 (never denoised) cannot reach the other
    # frames, so the effect of the adapter is checked with every frame conditioned
    plain = testing.tiny_pipeline()(scene, prompt="go", seed=0, output_type="pt", **FAST)
    assert torch.equal(out.frames, plain.frames)
    conditioned = pipe(scene, prompt="go", seed=0, output_type="pt", conditioning_frames="all", **FAST)
    assert not torch.equal(conditioned.frames, plain.frames)
    assert pipe.transformer not in conditioning._INSTALLED


def test_hook_removed_when_generation_fails(scene):
    pipe = testing.tiny_pipeline(adapter=True, conditioning=True)

    def fail(ltx, step, timestep, tensors):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        pipe(scene, prompt="go", seed=0, callback_on_step_end=fail, **FAST)
    assert pipe.transformer not in conditioning._INSTALLED


def test_without_text_encoder_the_adapter_tokens_are_the_prompt_embeddings(scene):
    pipe = testing.tiny_pipeline(text_encoder=False, adapter=True)
    seen = []

    def spy(ltx, step, timestep, tensors):
        seen.append(tensors["prompt_embeds"])
        return {}

    pipe(scene, prompt="go", seed=0, callback_on_step_end=spy, callback_on_step_end_tensor_inputs=["prompt_embeds"], **FAST)
    tokens = pipe._adapter_tokens([scene.convert("RGB")]).tokens
    # classifier-free guidance: [unconditional (zeros), conditional (adapter tokens)]
    torch.testing.assert_close(seen[0], torch.cat([torch.zeros_like(tokens), tokens]))
    with pytest.raises(ValueError, match="negative_prompt.*text_encoder.*'blur'"):
        pipe(scene, negative_prompt="blur", **FAST)  # refused before the VLM writes a prompt


# --------------------------------------------------------------------------------------------------
# memory options
# --------------------------------------------------------------------------------------------------


def test_cpu_offload_and_vae_tiling_keep_the_output(scene):
    reference = testing.tiny_pipeline()(scene, prompt="go", seed=0, output_type="pt", **FAST)
    pipe = testing.tiny_pipeline()
    pipe.enable_model_cpu_offload(device="cpu")
    pipe.enable_vae_tiling(tile_sample_min_height=64, tile_sample_min_width=64)  # tiles larger than the clip
    assert pipe.vae.use_tiling
    out = pipe(scene, prompt="go", seed=0, output_type="pt", **FAST)
    torch.testing.assert_close(out.frames, reference.frames)
    pipe.disable_vae_tiling()
    assert not pipe.vae.use_tiling


@pytest.mark.skipif(not torch.cuda.is_available(), reason="model CPU offload moves components to a GPU")
def test_cuda_cpu_offload_matches_the_pipeline_on_the_gpu(scene):
    reference = testing.tiny_pipeline().to("cuda")(scene, seed=0, output_type="pt", **FAST)
    pipe = testing.tiny_pipeline()
    pipe.enable_model_cpu_offload(device="cuda")
    out = pipe(scene, seed=0, output_type="pt", **FAST)  # the VLM writes the prompt and describes
    assert out.prompt == reference.prompt and out.description == reference.description
    torch.testing.assert_close(out.frames, reference.frames)
    assert pipe.vlm.device.type == "cpu"  # offloaded again once the call is over


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"height": 48}, "height.*multiple of 32.*48"),
        ({"width": 33}, "width.*multiple of 32.*33"),
        ({"num_frames": 10}, r"num_frames.*8k \+ 1.*10"),
        ({"num_frames": 0}, "num_frames"),
        ({"num_continuations": 0}, "num_continuations.*>= 1.*0"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"output_type": "gif"}, "output_type.*'gif'"),
        ({"question": "  "}, "question"),
        ({"seed": 1, "generator": torch.Generator()}, "generator or seed"),
        ({"seed": -1}, r"seed: expected an int in \[0, 18446744073709551615\], got -1"),
        ({"guidance_scale": float("nan")}, "guidance_scale.*nan"),
        ({"frame_rate": 0}, "frame_rate.*0"),
        ({"output_type": "latent", "rate": True}, "rate=True.*latent"),
        ({"conditioning_frames": "all"}, "conditioning_frames.*adapter.*'all'"),
        ({"conditioning_strength": 0.5}, "conditioning_strength.*0.5"),
        ({"generator": [torch.Generator()] * 2}, r"generator.*num_continuations=1.*list of 2"),
        ({"context_conditioning": "first"}, "context_conditioning.*'first'"),
        ({"latents": torch.zeros(1, 5, 8)}, r"latents.*\(1, 192, 8\).*\(1, 5, 8\)"),
    ],
)
def test_invalid_arguments_raise_clear_errors(pipe, scene, change, match):
    with pytest.raises(ValueError, match=match):
        pipe(scene, **{**FAST, **change})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"rate": "no"}, "rate.*'no'"),
        ({"seed": 1.5}, "seed: expected an int, got 1.5"),
        ({"generator": [1]}, "generator.*list.*int"),
        ({"negative_prompt": ["blur"]}, "negative_prompt.*list"),
        ({"prompt": 3}, "prompt.*int"),
    ],
)
def test_arguments_of_the_wrong_type_raise_type_errors(pipe, scene, change, match):
    with pytest.raises(TypeError, match=match):
        pipe(scene, **{**FAST, **change})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"conditioning_frames": [5]}, "conditioning_frames.*5.*out of range.*3 latent frames"),
        ({"conditioning_frames": "middle"}, "conditioning_frames.*'middle'"),
        ({"conditioning_strength": -1.0}, "conditioning_strength.*-1"),
    ],
)
def test_invalid_conditioning_arguments_fail_before_any_work(scene, change, match):
    pipe = testing.tiny_pipeline(adapter=True, conditioning=True)
    calls = []
    pipe.vlm.register_forward_hook(lambda *_: calls.append(1))
    with pytest.raises(ValueError, match=match):
        pipe(scene, **{**FAST, **change})
    assert calls == []


@pytest.mark.parametrize(("image", "error"), [([], ValueError), (None, ValueError), ("a.png", TypeError)])
def test_invalid_images_raise(pipe, image, error):
    with pytest.raises(error, match="image"):
        pipe(image, **FAST)


def test_construction_needs_prompt_embeddings_source():
    components = testing.tiny_ltx_components()
    components.pop("text_encoder"), components.pop("tokenizer")
    with pytest.raises(ValueError, match="text_encoder.*adapter"):
        ForesightPipeline(**components)


def test_construction_needs_context_tokens_for_the_adapter():
    components = testing.tiny_ltx_components()
    adapter = testing.tiny_pipeline(adapter=True).adapter
    with pytest.raises(ValueError, match="adapter needs context tokens.*vlm.*hybrid_encoder"):
        ForesightPipeline(**components, adapter=adapter)


def test_construction_refuses_a_lora_adapter():
    from foresight_models.models.lora_adapter import LoRAAdapter

    with pytest.raises(TypeError, match="adapter: LoRAAdapter.*QueryAdapter"):
        ForesightPipeline(
            **testing.tiny_ltx_components(),
            vlm=testing.tiny_qwen2_5_vl(),
            processor=testing.tiny_qwen2_5_vl_processor(),
            adapter=LoRAAdapter(d_in=32, d_out=32, r=2),
        )


def test_construction_rejects_half_pairs():
    components = testing.tiny_ltx_components()
    with pytest.raises(ValueError, match="processor"):
        ForesightPipeline(**components, vlm=testing.tiny_qwen2_5_vl())
    tokenizer = components.pop("tokenizer")
    assert tokenizer is not None
    with pytest.raises(ValueError, match="tokenizer"):
        ForesightPipeline(**components)


def test_without_vlm_a_prompt_is_required_and_nothing_is_described(scene):
    pipe = testing.tiny_pipeline(vlm=False)
    with pytest.raises(ValueError, match="prompt"):
        pipe(scene, **FAST)
    with pytest.raises(ValueError, match="rate"):
        pipe(scene, prompt="go", rate=True, **FAST)
    out = pipe(scene, prompt="go", seed=0, output_type="pt", num_continuations=2, **FAST)
    assert out.description is None and out.scores is None and out.frames.shape[0] == 2


def test_hybrid_encoder_tokens_feed_the_adapter_and_survive_save_load(scene, tmp_path):
    from safetensors.torch import load_file

    from foresight_models.inputs import to_frames

    pipe = testing.tiny_pipeline(text_encoder=False, adapter=True, hybrid_encoder=True)
    context = [Image.new("RGB", (64, 64), (10, 200, 30)), scene]
    fused = pipe.hybrid_encoder(to_frames(context)).fused_tokens  # (1, t, n, d)
    expected = pipe.adapter(fused.flatten(1, 2))
    torch.testing.assert_close(pipe._adapter_tokens(context).tokens, expected.tokens)

    out = pipe(context, prompt="go", seed=0, output_type="pt", **FAST)
    pipe.save_pretrained(tmp_path)
    (weights,) = (tmp_path / "hybrid_encoder").glob("*.safetensors")
    assert all(key.startswith("fusion.") for key in load_file(weights))  # no backbone weights twice
    loaded = ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.hybrid_encoder.vlm is loaded.vlm and loaded.hybrid_encoder.dino is loaded.spatial_encoder
    assert_same_output(loaded(context, prompt="go", seed=0, output_type="pt", **FAST), out)
