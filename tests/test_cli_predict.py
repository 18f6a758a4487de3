"""``foresight predict`` on the tiny pipeline: the output files, argument checks before loading, whole runs in --out."""

from __future__ import annotations

import json
import math
import os
import signal

import av
import numpy as np
import pytest
from PIL import Image

from foresight_models import testing
from foresight_models.cli import COMMANDS, build_parser, main
from foresight_models.cli import predict as predict_command
from foresight_models.data import video as video_module

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


def test_predict_tiny_random_writes_its_model_folder_on_demand_and_ranks_continuations(tmp_path, monkeypatch):
    monkeypatch.setenv("FORESIGHT_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "scene.png"
    testing.demo_image(64).save(image)
    out = tmp_path / "out"
    args = ["predict", "--model", "tiny-random", "--image", str(image), "--prompt", "the ball rolls"]
    args += ["--continuations", "2", "--out", str(out)]
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


@pytest.fixture()
def scene(tmp_path):
    image = tmp_path / "scene.png"
    testing.demo_image(64).save(image)
    return image


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return testing.tiny_pipeline_folder(tmp_path_factory.mktemp("model"))


@pytest.fixture()
def never_load(monkeypatch):
    """Fail the test if the command gets as far as loading the model."""

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(predict_command, "_load_pipeline", load)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("foresight predict: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--height", "0"], "--height: expected an int >= 32, got 0"),
        (["--width", "48"], "--width: LTX-Video needs a multiple of 32, got 48"),
        (["--num-frames", "10"], "--num-frames: LTX-Video needs 8k + 1 frames"),
        (["--steps", "0"], "--steps: expected an int >= 1, got 0"),
        (["--continuations", "0"], "--continuations: expected an int >= 1, got 0"),
        (["--max-new-tokens", "-3"], "--max-new-tokens: expected an int >= 1, got -3"),
        (["--seed", "-1"], "--seed: expected an int in [0, 18446744073709551615], got -1"),
        (["--guidance-scale", "nan"], "--guidance-scale: expected a finite number >= 0.0, got nan"),
        (["--fps", "0"], "--fps: expected a finite number > 0.0, got 0.0"),
        (["--fps", "0.0001"], "--fps: a video file cannot store 0.0001 frames per second"),
        (["--device", "no-such-device"], "--device: 'no-such-device' is not a torch device"),
        (["--device", "cpu", "--cpu-offload"], "--cpu-offload: moves weights between the CPU and an accelerator"),
        (["--model", "/no/such/model/folder"], "--model: no such folder: '/no/such/model/folder'"),
        (["--height", "8192", "--width", "8192", "--num-frames", "1001"], "pass --no-memory-check to try anyway"),
        (["--num-frames", "100001", "--height", "1024", "--width", "1024"], "--num-frames 100001"),
    ],
)
def test_predict_checks_arguments_before_loading(tmp_path, scene, capsys, never_load, extra, message):
    out = tmp_path / "out"
    assert main(["predict", "--image", str(scene), "--out", str(out), *FAST, *extra]) == 2
    assert message in _one_line_error(capsys)
    assert not out.exists() and list(tmp_path.iterdir()) == [scene]


def test_predict_image_errors_say_what_is_wrong(tmp_path, scene, capsys, never_load):
    out = ["--out", str(tmp_path / "out"), *FAST]
    assert main(["predict", "--image", str(tmp_path / "nope.png"), *out]) == 2
    assert "--image: no such file: " in _one_line_error(capsys)
    folder = tmp_path / "pictures"
    folder.mkdir()
    assert main(["predict", "--image", str(scene), "--image", str(folder), *out]) == 2
    error = _one_line_error(capsys)
    assert f"--image: {str(folder)!r} is a directory" in error and "no such file" not in error
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert main(["predict", "--image", str(text), *out]) == 2
    assert "is not an image file Pillow can read" in _one_line_error(capsys)
    model = tmp_path / "empty_model"
    model.mkdir()
    assert main(["predict", "--image", str(scene), "--model", str(model), *out]) == 2
    assert "has no model_index.json" in _one_line_error(capsys)


def test_predict_debug_shows_the_traceback(tmp_path, scene, never_load):
    with pytest.raises(ValueError, match="--height: LTX-Video needs a multiple of 32, got 48"):
        main(["predict", "--image", str(scene), "--out", str(tmp_path / "out"), *FAST, "--height", "48", "--debug"])


def test_memory_estimate_and_its_override(tmp_path, scene):
    assert predict_command.estimate_memory_bytes(num_continuations=2, num_frames=9, height=32, width=64) == (
        4 * 2 * 9 * 3 * 32 * 64 * 4
    )
    sizes = {"num_continuations": 1, "num_frames": 9, "height": 32, "width": 32}
    predict_command.check_memory(**sizes, available=4 * 9 * 3 * 32 * 32 * 4)  # exactly fits
    with pytest.raises(ValueError, match=r"--height 32 --width 32 --num-frames 9 --continuations 1: .*GiB"):
        predict_command.check_memory(**sizes, available=4 * 9 * 3 * 32 * 32 * 4 - 1)
    huge = ["--height", "8192", "--width", "8192", "--num-frames", "1001"]
    argv = ["predict", "--image", str(scene), "--out", str(tmp_path / "out"), *huge]
    with pytest.raises(ValueError, match="--no-memory-check"):
        predict_command.check_arguments(build_parser().parse_args(argv))
    settings, images = predict_command.check_arguments(build_parser().parse_args([*argv, "--no-memory-check"]))
    assert (settings.height, settings.width, settings.num_frames) == (8192, 8192, 1001) and len(images) == 1


def _predict(model_folder, scene, out, *extra) -> int:
    return main(["predict", "--model", model_folder, "--image", str(scene), "--out", str(out), *FAST, *extra])


def _snapshot(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_predict_refuses_a_used_out_without_overwrite(tmp_path, scene, model_folder, capsys):
    out = tmp_path / "out"
    assert _predict(model_folder, scene, out) == 0
    first = _snapshot(out)
    capsys.readouterr()
    assert _predict(model_folder, scene, out, "--seed", "1") == 2
    error = _one_line_error(capsys)
    assert f"--out: {str(out)!r} already holds files" in error and "--overwrite" in error
    assert _snapshot(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scene.png"]  # no temporary folder left


def test_predict_overwrite_replaces_the_whole_run(tmp_path, scene, model_folder):
    out = tmp_path / "out"
    assert _predict(model_folder, scene, out, "--continuations", "2") == 0
    assert (out / "continuation_1.mp4").is_file()
    assert _predict(model_folder, scene, out, "--overwrite", "--seed", "3") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "contact_sheet.png",
        "description.txt",
        "prediction.mp4",
        "result.json",
    ]
    assert json.loads((out / "result.json").read_text())["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scene.png"]


def test_predict_empty_out_is_used(tmp_path, scene, model_folder):
    out = tmp_path / "out"
    out.mkdir()
    assert _predict(model_folder, scene, out) == 0
    assert (out / "result.json").is_file()


@pytest.mark.parametrize("failure", ["bad_codec", "interrupt", "sigterm"])
def test_predict_failure_while_writing_keeps_the_previous_run(tmp_path, scene, model_folder, monkeypatch, failure):
    out = tmp_path / "out"
    assert _predict(model_folder, scene, out) == 0
    first = _snapshot(out)
    handler_before = signal.getsignal(signal.SIGTERM)
    real_write = video_module.write_video
    calls = []

    def write_then_fail(frames, path, fps, **kwargs):
        calls.append(path.name)
        if len(calls) == 1:
            return real_write(frames, path, fps, **kwargs)  # prediction.mp4 is written in full
        if failure == "interrupt":
            raise KeyboardInterrupt
        if failure == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # the command turns it into SystemExit and cleans up
        return real_write(frames, path, fps, codec="no_such_encoder")  # a real encoder error from PyAV

    monkeypatch.setattr(video_module, "write_video", write_then_fail)
    expected = {"interrupt": KeyboardInterrupt, "sigterm": SystemExit, "bad_codec": ValueError}[failure]
    with pytest.raises(expected):
        _predict(model_folder, scene, out, "--overwrite", "--continuations", "2", "--seed", "5")
    assert calls == ["prediction.mp4", "continuation_1.mp4"]
    assert _snapshot(out) == first
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the command restores the SIGTERM handler
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scene.png"]


def test_predict_records_the_stored_frame_rate(tmp_path, scene, model_folder):
    out = tmp_path / "out"
    assert _predict(model_folder, scene, out, "--fps", "29.97") == 0
    result = json.loads((out / "result.json").read_text())
    with av.open(str(out / "prediction.mp4")) as container:
        stored = float(container.streams.video[0].average_rate)
    assert result["fps"] == pytest.approx(stored, rel=1e-9) and stored == pytest.approx(29.97, rel=1e-3)


def test_predict_reports_the_pipelines_own_checks_in_one_line(tmp_path, scene, model_folder, capsys):
    # a blank question passes the command's own checks, but the pipeline (which has a VLM) refuses it
    out = tmp_path / "out"
    assert _predict(model_folder, scene, out, "--question", "   ") == 2
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the loading progress bars
    assert last_line == "foresight predict: error: question: expected a non-empty str, got '   '"
    assert not out.exists()
