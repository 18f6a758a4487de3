"""ForesightPipeline against the properties diffusers' ``PipelineTesterMixin`` checks of every pipeline.

Written here rather than vendored (diffusers' ``tests/pipelines/test_pipelines_common.py`` assumes a text
prompt batch, ``num_images_per_prompt`` and its own test utilities); each test is named after the
mixin's test it stands for. Tests that cannot apply to this pipeline are skipped with their reason.
Everything runs on the tiny components of ``foresight_models.testing`` (``tiny_pipeline_components``
is the mixin's ``get_dummy_components``).
"""

from __future__ import annotations

import inspect
import threading

import pytest
import torch
from diffusers import LTXImageToVideoPipeline

from foresight_models import testing
from foresight_models.pipelines.foresight_pipeline import ForesightPipeline, ForesightPipelineOutput

FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2)
STEPS = 4


def dummy_inputs(seed: int = 0, **changes):
    """The mixin's ``get_dummy_inputs``: a prompt (the tiny VLM is not asked to write one) and a seed."""
    return {"image": testing.demo_image(64), "prompt": "a ball rolls", "seed": seed, "output_type": "pt", **FAST, **changes}


@pytest.fixture
def pipe():
    return testing.tiny_pipeline(vlm=False)


# --------------------------------------------------------------------------------------------------
# saving and loading
# --------------------------------------------------------------------------------------------------


def test_save_load_local(pipe, tmp_path):
    expected = pipe(**dummy_inputs()).frames
    pipe.save_pretrained(tmp_path, safe_serialization=True)
    loaded = ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    assert not list(tmp_path.rglob("*.bin")) and list(tmp_path.rglob("*.safetensors"))
    assert torch.equal(loaded(**dummy_inputs()).frames, expected)


def test_save_load_optional_components(tmp_path):
    pipe = testing.tiny_pipeline(text_encoder=False, adapter=True, vlm=True)
    for name in ("spatial_encoder", "hybrid_encoder", "conditioning"):
        assert name in pipe._optional_components and getattr(pipe, name) is None
    expected = pipe(**dummy_inputs()).frames
    pipe.save_pretrained(tmp_path)
    loaded = ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    for name in ("text_encoder", "tokenizer", "spatial_encoder", "hybrid_encoder", "conditioning"):
        assert getattr(loaded, name) is None, name
    assert torch.equal(loaded(**dummy_inputs()).frames, expected)


def test_save_load_refuses_pickle(pipe, tmp_path):
    # The mixin's save/load tests with safe_serialization=False do not apply by design: this library writes
    # and reads safetensors only. The refusal is clear and leaves nothing behind.
    with pytest.raises(ValueError, match="safe_serialization.*safetensors.*False"):
        pipe.save_pretrained(tmp_path / "out", safe_serialization=False)
    assert not (tmp_path / "out").exists()


def test_serialization_of_components(tmp_path):
    pipe = testing.tiny_pipeline(vlm=True, adapter=True, conditioning=True)
    for name in ("adapter", "conditioning"):
        module = getattr(pipe, name)
        module.save_pretrained(tmp_path / name)
        loaded = type(module).from_pretrained(tmp_path / name)
        for (key, a), (_, b) in zip(module.state_dict().items(), loaded.state_dict().items(), strict=True):
            assert torch.equal(a, b), key


# --------------------------------------------------------------------------------------------------
# devices, dtypes, memory
# --------------------------------------------------------------------------------------------------


def test_to_dtype(pipe):
    # As diffusers' own test: the dtype moves, and the call then runs in it. Outputs are not compared
    # across dtypes: the VAE's posterior sample draws its noise in the module's dtype, and torch's
    # bfloat16 and float32 random streams differ (and differ between torch versions).
    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    assert {m.dtype for m in modules} == {torch.float32}
    pipe.to(dtype=torch.bfloat16)
    assert {m.dtype for m in modules} == {torch.bfloat16}
    seen = []
    pipe.transformer.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["hidden_states"].dtype), with_kwargs=True)
    out = pipe(**dummy_inputs()).frames
    assert set(seen) == {torch.bfloat16}
    assert out.shape == (1, 9, 3, 32, 32) and torch.isfinite(out.float()).all() and 0 <= out.min() <= out.max() <= 1


def test_to_device(pipe):
    pipe.to("cpu")
    devices = {m.device.type for m in pipe.components.values() if isinstance(m, torch.nn.Module)}
    assert devices == {"cpu"} and pipe.device.type == "cpu"
    assert pipe(**dummy_inputs()).frames.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="moving to an accelerator needs one")
def test_to_device_cuda(pipe):
    pipe.to("cuda")
    assert pipe(**dummy_inputs()).frames.device.type == "cuda"


def test_model_cpu_offload_forward_pass(pipe):
    expected = pipe(**dummy_inputs()).frames
    pipe.enable_model_cpu_offload(device="cpu")
    torch.testing.assert_close(pipe(**dummy_inputs()).frames, expected)


def test_attention_slicing_forward_pass(pipe):
    # none of LTX-Video's modules implements ``set_attention_slice``: slicing is accepted and changes nothing
    expected = pipe(**dummy_inputs()).frames
    pipe.enable_attention_slicing()
    assert not any(hasattr(m, "set_attention_slice") for m in (pipe.transformer, pipe.vae))
    assert torch.equal(pipe(**dummy_inputs()).frames, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="sequential CPU offload streams weights to an accelerator")
def test_sequential_cpu_offload_forward_pass(pipe):
    expected = pipe.to("cuda")(**dummy_inputs()).frames.cpu()  # the same kernels as the offloaded run
    pipe.to("cpu")
    pipe.enable_sequential_cpu_offload()
    torch.testing.assert_close(pipe(**dummy_inputs()).frames.cpu(), expected, atol=1e-4, rtol=1e-4)


def test_group_offloading_inference(pipe):
    expected = pipe(**dummy_inputs()).frames
    cpu = torch.device("cpu")
    pipe.enable_group_offload(onload_device=cpu, offload_device=cpu, offload_type="block_level", num_blocks_per_group=1)
    torch.testing.assert_close(pipe(**dummy_inputs()).frames, expected)


def test_layerwise_casting_inference(pipe):
    expected = pipe(**dummy_inputs()).frames
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.bfloat16, compute_dtype=torch.float32)
    torch.testing.assert_close(pipe(**dummy_inputs()).frames, expected, atol=1e-2, rtol=0)


def test_save_load_bfloat16(pipe, tmp_path):
    # the mixin's test_save_load_float16 needs CUDA; bfloat16 runs on a CPU
    pipe.to(dtype=torch.bfloat16)
    expected = pipe(**dummy_inputs()).frames
    pipe.save_pretrained(tmp_path)
    loaded = ForesightPipeline.from_pretrained(tmp_path, torch_dtype=torch.bfloat16, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    assert {m.dtype for m in loaded.components.values() if isinstance(m, torch.nn.Module)} == {torch.bfloat16}
    assert torch.equal(loaded(**dummy_inputs()).frames, expected)


def test_xformers_attention_forward_pass():
    pytest.skip("inapplicable: xFormers is an optional CUDA-only dependency, not installed with this library")


def test_cfg(pipe):
    guided = pipe(**dummy_inputs(guidance_scale=4.0)).frames
    assert pipe.do_classifier_free_guidance
    unguided = pipe(**dummy_inputs(guidance_scale=1.0)).frames
    assert not pipe.do_classifier_free_guidance and not torch.equal(guided, unguided)


def test_vae_tiling(pipe):
    expected = pipe(**dummy_inputs()).frames
    pipe.enable_vae_tiling(tile_sample_min_height=64, tile_sample_min_width=64)
    torch.testing.assert_close(pipe(**dummy_inputs()).frames, expected)


# --------------------------------------------------------------------------------------------------
# components, progress bar, signature
# --------------------------------------------------------------------------------------------------


def test_components_function(pipe):
    # as in diffusers, `components` holds the modules; settings such as `context_as_video` stay in the config
    init = set(inspect.signature(ForesightPipeline.__init__).parameters) - {"self", "context_as_video"}
    assert set(pipe.components) == init
    rebuilt = ForesightPipeline(**pipe.components)
    rebuilt.set_progress_bar_config(disable=True)
    assert torch.equal(rebuilt(**dummy_inputs()).frames, pipe(**dummy_inputs()).frames)


def test_progress_bar(pipe, capsys):
    pipe.set_progress_bar_config(disable=False)
    pipe(**dummy_inputs())
    assert f"{FAST['num_inference_steps']}/{FAST['num_inference_steps']}" in capsys.readouterr().err
    pipe.set_progress_bar_config(disable=True)
    pipe(**dummy_inputs())
    assert capsys.readouterr().err == ""


def test_call_signature_has_the_diffusers_arguments():
    parameters = inspect.signature(ForesightPipeline.__call__).parameters
    for name in (
        "height", "width", "num_frames", "num_inference_steps", "guidance_scale", "generator", "latents",
        "output_type", "return_dict", "callback_on_step_end", "callback_on_step_end_tensor_inputs", "attention_kwargs",
    ):  # fmt: skip
        assert name in parameters, name


# --------------------------------------------------------------------------------------------------
# outputs: return_dict, latents, batches and generators
# --------------------------------------------------------------------------------------------------


def test_inference_with_return_dict_false(pipe):
    output = pipe(**dummy_inputs())
    as_tuple = pipe(**dummy_inputs(), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 7
    assert torch.equal(as_tuple[0], output.frames)
    assert as_tuple[1:] == (None, "a ball rolls", None, 0, None, [0])
    assert output.to_tuple()[1:] == as_tuple[1:]


def test_latents_passthrough(pipe):
    shape = (2, 3 * 8 * 8, 8)  # (continuations, latent frames x 8 x 8 tokens, channels)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    out = pipe(**dummy_inputs(num_continuations=2), latents=latents).frames
    # the same initial latents give the same video whatever the seed ...
    assert torch.equal(pipe(**dummy_inputs(seed=9, num_continuations=2), latents=latents).frames, out)
    # ... exactly what diffusers' own pipeline makes of them
    ltx = LTXImageToVideoPipeline(**testing.tiny_ltx_components(0))
    ltx.set_progress_bar_config(disable=True)
    expected = ltx(
        image=testing.demo_image(64).convert("RGB"), prompt="a ball rolls", num_videos_per_prompt=2, latents=latents,
        generator=torch.Generator().manual_seed(0), output_type="pt", decode_timestep=0.05, max_sequence_length=128,
        **FAST,
    ).frames  # fmt: skip
    assert torch.equal(out, expected)
    # unpacked (n, c, f, h, w) latents are packed as diffusers does
    unpacked = latents.unflatten(1, (3, 8, 8)).permute(0, 4, 1, 2, 3)
    assert torch.equal(pipe(**dummy_inputs(num_continuations=2), latents=unpacked).frames, out)
    with pytest.raises(ValueError, match=r"latents: expected shape \(1, 192, 8\)"):
        pipe(**dummy_inputs(), latents=latents)


def test_inference_batch_single_identical_with_generator_list(pipe):
    generators = [torch.Generator().manual_seed(s) for s in (3, 4)]
    batch = pipe(**dummy_inputs(seed=None, num_continuations=2), generator=generators)
    assert batch.seed is None and batch.frames.shape[0] == 2
    for index, seed in enumerate((3, 4)):
        single = pipe(**dummy_inputs(seed=seed)).frames[0]
        torch.testing.assert_close(batch.frames[index], single, atol=1e-4, rtol=1e-4)


def test_generator_list_of_the_wrong_length_is_refused(pipe):
    with pytest.raises(ValueError, match=r"generator.*num_continuations=3.*list of 2"):
        pipe(**dummy_inputs(seed=None, num_continuations=3), generator=[torch.Generator(), torch.Generator()])


def test_num_continuations_are_one_batch(pipe):
    out = pipe(**dummy_inputs(num_continuations=3))
    assert out.frames.shape == (3, 9, 3, 32, 32)
    assert not torch.equal(out.frames[0], out.frames[1])


# --------------------------------------------------------------------------------------------------
# callbacks
# --------------------------------------------------------------------------------------------------


def test_callback_receives_the_pipeline_and_its_call_properties(pipe):
    seen = []

    def callback(p, step, timestep, tensors):
        seen.append((p, step, p.guidance_scale, p.do_classifier_free_guidance, p.num_timesteps, p.current_timestep, timestep))
        assert set(tensors) == {"latents", "prompt_embeds"}
        return {}

    pipe(**dummy_inputs(num_inference_steps=STEPS, guidance_scale=4.0), attention_kwargs={},
         callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"])  # fmt: skip
    assert [entry[0] for entry in seen] == [pipe] * STEPS
    assert [entry[1] for entry in seen] == list(range(STEPS))
    for _, _, scale, cfg, total, current, timestep in seen:
        assert scale == 4.0 and cfg is True and total == STEPS and current == timestep
    pipe(**dummy_inputs(guidance_scale=1.0))
    assert pipe.guidance_scale == 1.0 and pipe.do_classifier_free_guidance is False and pipe.num_timesteps == 2


def test_callback_inputs_modify_the_latents(pipe):
    def zero_latents(p, step, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])} if step == STEPS - 1 else {}

    plain = pipe(**dummy_inputs(num_inference_steps=STEPS, output_type="latent")).frames
    zeroed = pipe(**dummy_inputs(num_inference_steps=STEPS, output_type="latent"), callback_on_step_end=zero_latents).frames
    assert not torch.equal(plain, zeroed) and torch.equal(zeroed, torch.zeros_like(zeroed))


def test_callback_interrupt(pipe):
    stop_at = 1
    latents_after = {}

    def record(p, step, timestep, tensors):
        latents_after[step] = tensors["latents"].clone()
        return {}

    pipe(**dummy_inputs(num_inference_steps=STEPS, output_type="latent"), callback_on_step_end=record)
    steps_run = []

    def interrupt(p, step, timestep, tensors):
        steps_run.append(step)
        if step == stop_at:
            p.interrupt = True
        return {}

    out = pipe(**dummy_inputs(num_inference_steps=STEPS, output_type="latent"), callback_on_step_end=interrupt)
    assert steps_run == [0, 1] and pipe.interrupt is True
    assert torch.equal(out.frames, latents_after[stop_at])
    pipe(**dummy_inputs())  # a new call starts uninterrupted
    assert pipe.interrupt is False


def test_private_interrupt_name_as_diffusers_callbacks_use_it(pipe):
    steps_run = []

    def interrupt(p, step, timestep, tensors):
        steps_run.append(step)
        p._interrupt = True
        return {}

    pipe(**dummy_inputs(num_inference_steps=STEPS), callback_on_step_end=interrupt)
    assert steps_run == [0]


def test_call_properties_are_per_thread(pipe):
    """Two concurrent calls on one pipeline: each callback sees its own call, and one interrupt stops one call."""
    both_at_step_0 = threading.Barrier(2, timeout=60)
    seen: dict[str, list] = {"a": [], "b": []}

    def callback_for(name: str, stop: bool):
        def callback(p, step, timestep, tensors):
            if step == 0:
                both_at_step_0.wait()
            seen[name].append((step, p.guidance_scale, p.interrupt))
            if stop:
                p.interrupt = True
            return {}

        return callback

    results = {}

    def run(name: str, scale: float, stop: bool):
        results[name] = pipe(
            **dummy_inputs(num_inference_steps=STEPS, guidance_scale=scale), callback_on_step_end=callback_for(name, stop)
        )

    threads = [threading.Thread(target=run, args=("a", 2.0, True)), threading.Thread(target=run, args=("b", 5.0, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["a"] == [(0, 2.0, False)]
    assert seen["b"] == [(step, 5.0, False) for step in range(STEPS)]
    assert pipe.guidance_scale is None and pipe.interrupt is False  # this thread ran no call


# --------------------------------------------------------------------------------------------------
# components removed after construction
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "removed", "match"),
    [
        ({}, "text_encoder", "at call time.*text_encoder.*adapter"),
        ({}, "transformer", "at call time.*transformer: required"),
        ({"vlm": True, "text_encoder": False, "adapter": True}, "vlm", "at call time.*adapter needs context tokens"),
        ({"vlm": True}, "processor", "at call time.*processor is required with vlm"),
    ],
)
def test_components_removed_after_construction_are_checked_at_call_time(options, removed, match):
    pipe = testing.tiny_pipeline(**{"vlm": False, **options})
    setattr(pipe, removed, None)
    with pytest.raises(ValueError, match=match):
        pipe(**dummy_inputs())
    with pytest.raises(ValueError, match=match):
        pipe.check_inputs(**dummy_inputs())


def test_output_type_and_fields():
    out = testing.tiny_pipeline(vlm=False)(**dummy_inputs(output_type="np"))
    assert isinstance(out, ForesightPipelineOutput) and out.frames.shape == (1, 9, 32, 32, 3)
