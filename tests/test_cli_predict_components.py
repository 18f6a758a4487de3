"""``foresight predict --video-model/--vlm``: a pipeline assembled from upstream checkpoint folders, and
one-line errors for a plain LTX-Video folder given as --model and for uncached Hub ids."""

from __future__ import annotations

import json

import pytest

from foresight_models import testing
from foresight_models.cli import main

FAST = ["--height", "32", "--width", "32", "--num-frames", "9", "--steps", "2", "--max-new-tokens", "4", "--quiet"]


@pytest.fixture()
def scene(tmp_path):
    image = tmp_path / "scene.png"
    testing.demo_image(64).save(image)
    return image


@pytest.fixture(scope="module")
def ltx_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ltx")
    testing.tiny_ltx_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen")
    testing.tiny_qwen2_5_vl().save_pretrained(folder)
    testing.tiny_qwen2_5_vl_processor().save_pretrained(folder)
    return folder


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("foresight predict: error: ") and err.count("\n") == 1, err
    return err


def test_plain_ltx_folder_as_model_points_to_video_model(tmp_path, scene, ltx_folder, capsys):
    out = tmp_path / "out"
    assert main(["predict", "--image", str(scene), "--model", str(ltx_folder), "--out", str(out), *FAST]) == 2
    err = one_line_error(capsys)
    assert "holds a LTXImageToVideoPipeline, not a ForesightPipeline" in err and "--video-model" in err
    assert not out.exists()


def test_video_model_and_vlm_folders_assemble_the_pipeline(tmp_path, scene, ltx_folder, vlm_folder):
    out = tmp_path / "out"
    args = ["predict", "--image", str(scene), "--video-model", str(ltx_folder), "--vlm", str(vlm_folder)]
    assert main([*args, "--out", str(out), "--local-files-only", *FAST]) == 0
    result = json.loads((out / "result.json").read_text())
    assert isinstance(result["description"], list) and len(result["description"]) == 1  # the VLM described it
    assert result["prompt"]  # and wrote the prompt


def test_video_model_without_vlm_needs_a_prompt(tmp_path, scene, ltx_folder, capsys):
    args = ["predict", "--image", str(scene), "--video-model", str(ltx_folder), "--out", str(tmp_path / "out")]
    assert main([*args, "--local-files-only", *FAST]) == 2
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the loading progress bars
    assert last_line == "foresight predict: error: prompt: required when the pipeline has no vlm to write it, got None"
    assert main([*args, "--local-files-only", "--prompt", "the ball rolls", *FAST]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "nobody/not-cached"], "--model: cannot load 'nobody/not-cached': it is not in the local Hugging Face cache"),
        (["--video-model", "nobody/not-cached"], "--video-model: cannot load 'nobody/not-cached': it is not in the local"),
    ],
)
def test_uncached_hub_ids_give_one_line_errors(tmp_path, scene, capsys, extra, message):
    args = ["predict", "--image", str(scene), "--prompt", "go", "--out", str(tmp_path / "out"), "--local-files-only"]
    assert main([*args, *extra, *FAST]) == 2
    err = one_line_error(capsys)
    assert message in err and "hf download" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vlm", "Qwen/Qwen2.5-VL-7B-Instruct"], "--vlm: only used with --video-model"),
        (["--model", "a/b", "--video-model", "c/d"], "--video-model: pass either --model or --video-model, not both"),
        (["--video-model", "/no/such/ltx"], "--video-model: no such folder: '/no/such/ltx'"),
    ],
)
def test_component_flags_are_checked_before_loading(tmp_path, scene, capsys, extra, message):
    args = ["predict", "--image", str(scene), "--out", str(tmp_path / "out")]
    assert main([*args, *extra, *FAST]) == 2
    assert message in one_line_error(capsys)
