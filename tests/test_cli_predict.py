"""``foresight predict`` on the tiny pipeline: the four output files and their contents."""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest
from PIL import Image

from foresight_models import testing
from foresight_models.cli import COMMANDS, main

FAST = ["--height", "32", "--width", "32", "--num-frames", "9", "--steps", "2", "--max-new-tokens", "4", "--quiet"]


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_predict_is_registered():
    assert "predict" in COMMANDS


def test_predict_writes_video_contact_sheet_description_and_result(tmp_path):
    folder = testing.tiny_pipeline_folder(tmp_path / "model")
    first, last = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("L", (64, 64), 128).save(first)  # any mode is accepted
    testing.demo_image(64).save(last)
    out = tmp_path / "out"
    code = main(["predict", "--model", folder, "--image", str(first), "--image", str(last), "--out", str(out), *FAST])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "contact_sheet.png",
        "description.txt",
        "prediction.mp4",
        "result.json",
    ]
    frames = decoded_frames(out / "prediction.mp4")
    assert len(frames) == 9 and frames[0].shape == (32, 32, 3)
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (9 * 32, 32)
    result = json.loads((out / "result.json").read_text())
    assert (out / "description.txt").read_text() == result["description"][0] + "\n"
    assert result["prompt"] and result["seed"] == 0 and result["num_frames"] == 9
    assert result["files"]["video"] == "prediction.mp4"
    assert len(result["images"]) == 2


def test_predict_tiny_writes_its_model_folder_on_demand_and_ranks_continuations(tmp_path, monkeypatch):
    monkeypatch.setenv("FORESIGHT_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "scene.png"
    testing.demo_image(64).save(image)
    out = tmp_path / "out"
    args = ["predict", "--image", str(image), "--prompt", "the ball rolls", "--continuations", "2", "--out", str(out)]
    assert main([*args, *FAST]) == 0
    assert (tmp_path / "cache" / f"tiny-pipeline-v{testing.TINY_PIPELINE_VERSION}" / "model_index.json").is_file()
    result = json.loads((out / "result.json").read_text())
    assert result["prompt"] == "the ball rolls"
    assert len(result["description"]) == 2 and len(result["scores"]) == 2 and len(result["ratings"]) == 2
    assert sorted(result["order"]) == [0, 1]
    numbers = [s for s in result["scores"] if s is not None]  # unparsable answers are null, listed last
    assert numbers == sorted(numbers, reverse=True)
    assert result["scores"][: len(numbers)] == numbers
    assert all(s is None or not math.isnan(s) for s in result["scores"])
    assert len(decoded_frames(out / "continuation_1.mp4")) == 9
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (9 * 32, 2 * 32)


def test_predict_missing_image_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        main(["predict", "--image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "out"), *FAST])


def test_predict_passes_explicit_values_to_the_pipeline_validation(tmp_path):
    image = tmp_path / "scene.png"
    testing.demo_image(64).save(image)
    folder = testing.tiny_pipeline_folder(tmp_path / "model")
    args = ["predict", "--model", folder, "--image", str(image), "--out", str(tmp_path / "out"), *FAST]
    with pytest.raises(ValueError, match="height.*multiple of 32.*got 0"):
        main([*args, "--height", "0"])
