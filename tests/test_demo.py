"""The demo app's functions, called directly on the tiny random-weight pipeline: the order in which the
page sees the events, the downloads, errors shown as messages, concurrent users, ``foresight demo``."""

from __future__ import annotations

import filecmp
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

from foresight_models import build_demo, load_pipeline, read_video, testing
from foresight_models.cli import build_parser, main
from foresight_models.demo import OUTPUTS, DemoRunner, DemoSettings, predict_handler
from foresight_models.demo.app import progress_html, show_frame
from foresight_models.demo.gradio_import import GRADIO_INSTALL_HINT
from foresight_models.pipelines.named import CALL_DEFAULTS, NAMED_PIPELINES, pipeline_kind

SMALL = DemoSettings(height=32, width=32, num_frames=9, steps=2, max_new_tokens=8)


@pytest.fixture(scope="module")
def pipe():
    return testing.tiny_pipeline()


@pytest.fixture
def runner(pipe, tmp_path):
    return DemoRunner(pipe, settings=SMALL, work_dir=tmp_path / "runs", model="tiny-random")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "scene.png"
    testing.demo_image(64).save(path)
    return str(path)


def first_change(pages: list[dict], predicate) -> int:
    return next(i for i, page in enumerate(pages) if predicate(page))


def test_the_handler_sees_prompt_then_progress_then_frames_then_description(runner, scene):
    pages = [dict(zip(OUTPUTS, values)) for values in predict_handler(runner)(*[[scene]], "", "", *[None] * 6)]

    def has(name):
        return lambda page: isinstance(page[name], str) and page[name] != ""

    prompt = first_change(pages, has("prompt"))
    progress = first_change(pages, lambda page: "step 1 of 2" in page["progress"])
    video = first_change(pages, has("video"))
    description = first_change(pages, has("description"))
    assert prompt < progress < video < description < len(pages) - 1
    # the first values clear what a previous call left in the page
    first = pages[0]
    assert (first["video"], first["frame"], first["frames"], first["downloads"]) == (None, None, None, None)
    assert first["description"] == "" and first["gallery"] == [] and first["frame_slider"]["interactive"] is False
    assert [page["progress"] for page in pages[progress : progress + 2]] == [progress_html(1, 2), progress_html(2, 2)]
    assert pages[video]["video"].endswith("continuation_0.mp4")
    # unchanged values are not sent again: the video is sent when it appears and when the best one is chosen
    assert [i for i, page in enumerate(pages) if isinstance(page["video"], str)] == [video, len(pages) - 1]
    last = pages[-1]
    assert last["status"].startswith("done in") and last["video"].endswith("prediction.mp4")
    assert last["frame_slider"]["maximum"] == SMALL.num_frames - 1 and len(last["frames"]) == SMALL.num_frames
    assert last["frame"] is last["frames"][0]
    assert show_frame(3, last["frames"]) is last["frames"][3] and show_frame(99, last["frames"]) is None


def test_runner_streams_the_prompt_and_the_steps_in_order(runner, scene):
    updates = list(runner.predict([scene], prompt=None, question=None))
    stages = [u.stage for u in updates]
    collapsed = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
    assert collapsed == ["prompt", "denoising", "frames", "description", "done"]
    assert [(u.step, u.total) for u in updates if u.stage == "denoising"] == [(1, 2), (2, 2)]
    prompts = [u.prompt for u in updates if u.stage == "prompt"]
    assert all(b.startswith(a) for a, b in zip(prompts, prompts[1:]))
    assert updates[-1].prompt.strip() == prompts[-1].strip() != ""
    assert all(u.video is None for u in updates if u.stage in ("prompt", "denoising"))


def test_a_given_prompt_skips_the_prompt_stage(runner, scene):
    updates = list(runner.predict([scene], prompt="  the ball rolls down  ", steps=3.0))
    assert updates[0].stage == "denoising" and updates[0].prompt == "the ball rolls down"
    assert updates[-1].prompt == "the ball rolls down"
    assert [u.step for u in updates if u.stage == "denoising"] == [1, 2, 3]


def test_downloads_are_the_mp4_and_the_json_result(runner, scene):
    done = list(runner.predict([scene, scene], question="Where does the ball go?", continuations=2, seed=7))[-1]
    video, result = done.files
    assert video.endswith("prediction.mp4") and result.endswith("result.json")
    record = json.loads(open(result, encoding="utf-8").read())
    assert record["images"] == ["scene.png", "scene.png"] and record["model"] == "tiny-random"
    assert record["question"] == "Where does the ball go?" and record["prompt"] == done.prompt
    assert record["seed"] == 7 and record["num_continuations"] == 2 and record["num_inference_steps"] == 2
    assert (record["height"], record["width"], record["num_frames"]) == (32, 32, 9)
    assert sorted(record["order"]) == [0, 1] and len(record["description"]) == len(record["scores"]) == 2
    assert all(score is None or 0 <= score <= 10 for score in record["scores"])
    assert record["files"] == {"video": "prediction.mp4", "result": "result.json"}
    # prediction.mp4 is the best continuation's file; its frames are the ones the slider shows
    best, other = (Path(video).parent / f"continuation_{i}.mp4" for i in record["order"])
    assert filecmp.cmp(video, best, shallow=False)
    clip = read_video(video).float()
    assert tuple(clip.shape) == (9, 3, 32, 32)
    shown = torch.from_numpy(np.stack([np.asarray(f) for f in done.frames])).permute(0, 3, 1, 2).float()
    assert (clip - shown).abs().mean() < (read_video(other).float() - shown).abs().mean()
    assert [caption.split(":")[0].split(" ")[0] for _, caption in done.gallery] == ["#1", "#2"]
    assert done.description.startswith("#1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_frames": 10}, "num_frames"),
        ({"height": 100}, "height"),
        ({"steps": 2.5}, "num_inference_steps"),
        ({"images": None}, "images: none given"),
        ({"images": "not-an-image"}, "'notes.png' is not an image file"),
    ],
)
def test_an_invalid_input_is_a_message_and_the_next_request_works(runner, scene, tmp_path, change, message):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    inputs = dict(images=[scene], prompt="", question="", height=None, width=None, num_frames=None)
    inputs.update(steps=None, continuations=None, seed=None)
    inputs.update(change)
    if inputs["images"] == "not-an-image":
        inputs["images"] = [scene, str(bad)]
    handler = predict_handler(runner)
    with pytest.raises(gr.Error, match=message):
        list(handler(**inputs))
    last = dict(zip(OUTPUTS, list(handler([scene], "", "", None, None, None, None, None, None))[-1]))
    assert last["status"].startswith("done") and len(last["downloads"]) == 2


def test_two_concurrent_users_get_their_own_results(runner, scene):
    requests = {
        "a": dict(prompt="a red ball rolls", seed=1, num_frames=9),
        "b": dict(prompt="a cube", seed=2, num_frames=17),
    }
    results, errors = {}, []
    barrier = threading.Barrier(2)

    def user(name):
        try:
            barrier.wait(timeout=60)
            results[name] = list(runner.predict([scene], **requests[name]))[-1]
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=user, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and set(results) == {"a", "b"}
    assert results["a"].files[0] != results["b"].files[0]
    for name, request in requests.items():
        record = json.loads(open(results[name].files[1], encoding="utf-8").read())
        assert (record["prompt"], record["seed"], record["num_frames"]) == (
            request["prompt"],
            request["seed"],
            request["num_frames"],
        )
        assert len(results[name].frames) == request["num_frames"]
        assert read_video(results[name].files[0]).shape[0] == request["num_frames"]


def test_settings_fit_the_model():
    keys = ("height", "width", "num_frames", "steps", "guidance_scale")
    toy = DemoSettings.for_pipeline(
        SimpleNamespace(transformer=testing.tiny_ltx_transformer(), vae=testing.tiny_ltx_vae())
    )
    assert tuple(getattr(toy, k) for k in keys) == tuple(CALL_DEFAULTS["tiny-random"][k] for k in keys)
    from foresight_models.foresight_tiny import foresight_tiny_components

    trained_architecture = SimpleNamespace(**foresight_tiny_components())
    assert pipeline_kind(trained_architecture) == "tiny"
    tiny = DemoSettings.for_pipeline(trained_architecture)
    assert tuple(getattr(tiny, k) for k in keys) == tuple(CALL_DEFAULTS["tiny"][k] for k in keys)
    assert (tiny.height, tiny.guidance_scale) == (128, 3.0)
    from foresight_models.presets import build

    real = SimpleNamespace(transformer=build("ltx-video-2b-transformer", device="meta"))
    assert (
        pipeline_kind(real) == "real"
        and DemoSettings.for_pipeline(real).num_frames == CALL_DEFAULTS["real"]["num_frames"]
    )
    with pytest.raises(ValueError, match="fps"):
        DemoSettings(height=32, width=32, num_frames=9, steps=2, fps=0)
    assert {"tiny", "tiny-random"} <= set(NAMED_PIPELINES)


def test_build_demo_checks_its_arguments(pipe, tmp_path):
    with pytest.raises(TypeError, match="examples"):
        build_demo(pipe, examples=[3])
    with pytest.raises(TypeError, match="settings"):
        build_demo(pipe, settings={"height": 32})
    with pytest.raises(ValueError, match="concurrency_limit"):
        build_demo(pipe, concurrency_limit=0)
    assert isinstance(build_demo(pipe, examples=[testing.demo_image(32)], settings=SMALL), gr.Blocks)
    two_frames = [testing.demo_image(32), testing.demo_image(32)]
    assert isinstance(build_demo(pipe, examples=[two_frames], settings=SMALL), gr.Blocks)
    with pytest.raises(TypeError, match="examples"):
        build_demo(pipe, examples=[[testing.demo_image(32), 3]])


def test_demo_command_without_gradio_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    assert main(["demo", "--model", "/no/such/folder"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"foresight demo: error: {GRADIO_INSTALL_HINT}" and 'pip install "foresight-models[demo]"' in err


def test_demo_command_refuses_a_bad_port_and_an_unloadable_model(capsys):
    args = build_parser().parse_args(["demo"])
    assert (args.model, args.host, args.port, args.share) == ("tiny", "127.0.0.1", 7860, False)
    assert main(["demo", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["demo", "--model", "/no/such/folder", "--local-files-only"]) == 2
    assert "foresight demo: error: --model: cannot load '/no/such/folder'" in capsys.readouterr().err


def test_importing_the_package_and_the_command_line_does_not_import_gradio():
    code = "import sys, foresight_models, foresight_models.cli; print('gradio' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
        == "False"
    )


def test_build_demo_without_gradio_says_how_to_install(pipe, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(ImportError, match=re.escape('pip install "foresight-models[demo]"')):
        build_demo(pipe)


def test_load_pipeline_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("FORESIGHT_CACHE", str(tmp_path))
    loaded = load_pipeline("tiny-random")
    assert type(loaded).__name__ == "ForesightPipeline" and loaded.vlm is not None
    assert pipeline_kind(loaded) == "tiny-random"
    with pytest.raises(TypeError, match="model: expected a name"):
        load_pipeline(3)
