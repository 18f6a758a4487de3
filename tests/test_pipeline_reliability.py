"""ForesightPipeline under concurrency, abandoned streams, nan weights, oversized calls and broken folders."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from safetensors.torch import load_file, save_file

from foresight_models import testing
from foresight_models.pipelines.events import Done, Progress, TextDelta
from foresight_models.pipelines.foresight_pipeline import ForesightPipeline, NonFiniteOutputError

FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2, max_new_tokens=4, max_description_frames=4)


@pytest.fixture
def scene():
    return testing.demo_image(64)


def assert_same(a, b) -> None:
    assert torch.equal(a.frames, b.frames)
    assert (a.prompt, a.description, a.seed, a.order) == (b.prompt, b.description, b.seed, b.order)


# --------------------------------------------------------------------------------------------------
# one pipeline, several threads
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [False, True])
def test_four_threads_each_get_their_single_threaded_result(scene, adapter):
    pipe = testing.tiny_pipeline(adapter=adapter, conditioning=adapter)
    seeds = [0, 1, 2, 3]
    expected = {seed: pipe(scene, seed=seed, output_type="pt", **FAST) for seed in seeds}
    start = threading.Barrier(len(seeds))

    def call(seed):
        start.wait()
        return pipe(scene, seed=seed, output_type="pt", **FAST)

    with ThreadPoolExecutor(len(seeds)) as pool:
        results = dict(zip(seeds, pool.map(call, seeds)))
    for seed in seeds:
        assert_same(results[seed], expected[seed])


def test_a_stream_left_with_break_and_still_referenced_stops(scene):
    pipe = testing.tiny_pipeline()
    expected = pipe(scene, seed=1, output_type="pt", **FAST)
    steps = []
    threads = set(threading.enumerate())

    def count(ltx, step, timestep, tensors):
        steps.append(step)
        return {}

    stream = pipe.stream(scene, seed=0, output_type="pt", callback_on_step_end=count, **{**FAST, "num_inference_steps": 20})
    for event in stream:
        if isinstance(event, TextDelta):
            break  # the stream stays referenced below
    assert set(threading.enumerate()) == threads  # the worker has stopped
    assert len(steps) <= 1  # of 20: it stopped at its next event
    assert_same(pipe(scene, seed=1, output_type="pt", **FAST), expected)
    finished = list(steps)
    assert steps == finished
    with pytest.raises(StopIteration):
        next(stream)


def test_stream_as_a_context_manager_stops_on_exit(scene):
    pipe = testing.tiny_pipeline()
    threads = set(threading.enumerate())
    with pipe.stream(scene, seed=0, output_type="pt", **FAST) as stream:
        first = next(stream)
    assert isinstance(first, TextDelta)
    assert set(threading.enumerate()) == threads
    events = list(pipe.stream(scene, prompt="go", seed=0, output_type="pt", **FAST))
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2] and isinstance(events[-1], Done)


# --------------------------------------------------------------------------------------------------
# non-finite values
# --------------------------------------------------------------------------------------------------


def _fill_nan(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.fill_(float("nan"))


@pytest.mark.parametrize(
    ("component", "stage"),
    [("transformer", "video denoising"), ("vae", "VAE decode"), ("adapter", "adapter")],
)
def test_nan_weights_fail_naming_the_stage(scene, component, stage):
    pipe = testing.tiny_pipeline(adapter=component == "adapter")
    target = pipe.vae.decoder if component == "vae" else getattr(pipe, component)
    _fill_nan(target)
    with pytest.raises(NonFiniteOutputError, match=f"{stage}.*nan.*bfloat16.*float32"):
        pipe(scene, prompt="go", seed=0, output_type="pt", **FAST)


def test_nan_latents_are_caught_with_latent_output(scene):
    pipe = testing.tiny_pipeline(vlm=False)
    _fill_nan(pipe.transformer)
    with pytest.raises(NonFiniteOutputError, match="video denoising.*step 1 of 2"):
        pipe(scene, prompt="go", seed=0, output_type="latent", **FAST)


# --------------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [({"height": 65536, "width": 65536}, "height=65536"), ({"num_frames": 8 * 10**7 + 1}, "num_frames=80000001")],
)
def test_a_call_that_cannot_fit_is_refused_before_any_work(scene, change, named):
    pipe = testing.tiny_pipeline()
    calls = []
    pipe.vlm.register_forward_hook(lambda *_: calls.append(1))
    with pytest.raises(MemoryError, match=f"{named}.*GiB.*check_memory=False"):
        pipe(scene, **{**FAST, **change})
    assert calls == []
    pipe.check_inputs(scene, **{**FAST, **change}, check_memory=False)  # the override: no refusal


def test_memory_estimate_grows_with_the_video_and_check_memory_is_checked(scene):
    pipe = testing.tiny_pipeline()
    small = pipe.estimate_memory(height=32, width=32, num_frames=9)
    assert pipe.estimate_memory(height=64, width=32, num_frames=9) == pytest.approx(2 * small, rel=0.01)
    assert pipe.estimate_memory(height=32, width=32, num_frames=9, num_continuations=3) == pytest.approx(3 * small, rel=0.01)
    with pytest.raises(TypeError, match="check_memory.*'no'"):
        pipe.check_inputs(scene, **FAST, check_memory="no")


def test_a_config_far_larger_than_its_weights_is_refused_at_load(tmp_path):
    testing.tiny_pipeline(vlm=False).save_pretrained(tmp_path)
    config_path = tmp_path / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_layers"] = 1_000_000
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"transformer/config.json.*LTXVideoTransformer3DModel.*safetensors"):
        ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)


# --------------------------------------------------------------------------------------------------
# incomplete weights
# --------------------------------------------------------------------------------------------------


def _drop_key(folder, component: str) -> str:
    (path,) = (folder / component).glob("*.safetensors")
    state = load_file(path)
    key = sorted(state)[0]
    del state[key]
    save_file(state, path, metadata={"format": "pt"})
    return key


@pytest.mark.parametrize("component", ["transformer", "adapter"])
def test_weights_with_a_missing_key_are_refused_at_load(tmp_path, component):
    from diffusers import DiffusionPipeline

    testing.tiny_pipeline(adapter=True).save_pretrained(tmp_path)
    key = _drop_key(tmp_path, component)
    for cls in (ForesightPipeline, DiffusionPipeline):
        with pytest.raises(ValueError, match=rf": .*{component}/diffusion_pytorch_model.safetensors lack\(s\) .*{key}"):
            cls.from_pretrained(tmp_path, local_files_only=True)


@pytest.mark.parametrize("component", ["vlm", "text_encoder"])
def test_transformers_weights_with_a_missing_key_are_refused_at_load(tmp_path, component):
    # transformers would fill the key with random values and only print a load report
    testing.tiny_pipeline().save_pretrained(tmp_path)
    _drop_key(tmp_path, component)
    with pytest.raises(ValueError, match=rf"{component}: .*{component} lack\(s\) 1 weight\(s\)"):
        ForesightPipeline.from_pretrained(tmp_path, local_files_only=True)


# --------------------------------------------------------------------------------------------------
# saving over an earlier pipeline
# --------------------------------------------------------------------------------------------------


def test_saving_over_a_bigger_pipeline_leaves_exactly_the_new_one(tmp_path, scene):
    folder = tmp_path / "pipe"
    testing.tiny_pipeline(adapter=True, conditioning=True).save_pretrained(folder)
    (folder / "notes.txt").write_text("mine")
    small = testing.tiny_pipeline(vlm=False)
    small.save_pretrained(folder)
    index = json.loads((folder / "model_index.json").read_text())
    components = {  # component entries are [library, class]; settings such as context_as_video are plain values
        name for name, entry in index.items() if isinstance(entry, list) and not name.startswith("_") and entry[0]
    }
    folders = {entry.name for entry in folder.iterdir() if entry.is_dir()}
    assert folders == components
    assert "adapter" not in folders and "conditioning" not in folders and "vlm" not in folders
    assert (folder / "notes.txt").read_text() == "mine"  # not part of a pipeline: kept
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # no staging or backup folder left
    loaded = ForesightPipeline.from_pretrained(folder, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    assert_same(loaded(scene, prompt="go", seed=0, output_type="pt", **FAST), small(scene, prompt="go", seed=0, output_type="pt", **FAST))


def test_a_failed_save_leaves_the_earlier_folder_whole(tmp_path):
    folder = tmp_path / "pipe"
    testing.tiny_pipeline(vlm=False).save_pretrained(folder)
    before = {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    pipe = testing.tiny_pipeline(vlm=False)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    pipe.vae.save_pretrained = fail  # the vae is written after the scheduler and the text encoder
    with pytest.raises(OSError, match="disk full"):
        pipe.save_pretrained(folder)
    after = {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    assert after == before
    assert sorted(os.listdir(tmp_path)) == ["pipe"]

