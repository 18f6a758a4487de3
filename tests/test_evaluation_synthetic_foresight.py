"""Foresight measured on SyntheticMotion: objects located by colour, actions read from sentences, and the
per-horizon centre error of a predictor against CopyLastFrame and LinearExtrapolation."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from foresight_models.data import ACTIONS, COLOURS, HAND_COLOUR, ForesightClips, SyntheticMotion, object_colour
from foresight_models.evaluation import (
    SyntheticForesightResult,
    action_from_text,
    box_centres,
    evaluate_synthetic_foresight,
    locate_objects,
)

SHAPES = ("square", "circle")


def clips(n: int = 6, *, size: int = 48, num_frames: int = 9, seed: int = 1000) -> ForesightClips:
    return ForesightClips(
        SyntheticMotion(n, frames=3 + num_frames, size=size, seed=seed), context_indices=(0, 3), num_frames=num_frames
    )


# -- colours and boxes ------------------------------------------------------------------------------------


def test_object_colour_maps_names_to_the_drawn_colours():
    assert object_colour("red circle") == COLOURS["red"]
    assert object_colour("purple square") == COLOURS["purple"]
    assert object_colour("hand") == HAND_COLOUR
    item = SyntheticMotion(6, frames=4, size=32, seed=3)[2]  # a push: an object and the hand
    for k, name in enumerate(item["object_names"]):
        pixels = item["frames"][0].permute(1, 2, 0)[item["masks"][0, k]]
        assert (pixels == torch.tensor(object_colour(name), dtype=torch.uint8)).all()


@pytest.mark.parametrize("name", ["red", "red cube", "pink circle", "red circle extra", ""])
def test_object_colour_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="name"):
        object_colour(name)
    with pytest.raises(TypeError, match="name"):
        object_colour(3)


def test_box_centres_of_exclusive_boxes():
    boxes = torch.tensor([[2.0, 4.0, 7.0, 5.0], [0.0, 0.0, 1.0, 1.0]])
    assert box_centres(boxes).tolist() == [[4.0, 4.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="boxes"):
        box_centres(torch.zeros(3, 3))


# -- locate_objects -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1000])
def test_locate_objects_recovers_the_box_centres_for_every_action(seed):
    dataset = SyntheticMotion(len(ACTIONS), frames=10, size=48, seed=seed)
    for index in range(len(dataset)):
        item = dataset[index]
        colours = [object_colour(name) for name in item["object_names"]]
        centres, found = locate_objects(item["frames"], colours)
        assert found.all(), item["action"]
        error = (centres - box_centres(item["boxes"])).abs().max().item()
        assert error <= 1.0, (item["action"], error)
        # float frames in [0, 1] are the same frames
        centres_float, _ = locate_objects(item["frames"].float() / 255, colours)
        torch.testing.assert_close(centres_float, centres)


def test_locate_objects_ignores_stray_pixels_and_reports_missing_objects():
    frames = torch.full((2, 3, 20, 20), 200, dtype=torch.uint8)
    red = torch.tensor(COLOURS["red"], dtype=torch.uint8).view(3, 1, 1)
    frames[0, :, 5:10, 2:7] = red  # a 5x5 block centred at (4, 7)
    frames[0, :, 18:19, 18:19] = red  # a stray pixel of the same colour
    frames[1, :, 0:1, 0:1] = red  # frame 1: only a stray pixel
    centres, found = locate_objects(frames, [COLOURS["red"], COLOURS["blue"]], min_pixels=[4, 1])
    assert found.tolist() == [[True, False], [False, False]]
    assert centres[0, 0].tolist() == [4.0, 7.0]
    assert torch.isnan(centres[~found]).all()
    # a colour within the tolerance is the object's; beyond it, it is not
    shifted = frames.clone()
    shifted[0, 0, 5:10, 2:7] = COLOURS["red"][0] - 30
    assert locate_objects(shifted, [COLOURS["red"]], tolerance=40, min_pixels=2)[1][0, 0]
    assert not locate_objects(shifted, [COLOURS["red"]], tolerance=20, min_pixels=2)[1][0, 0]


def test_locate_objects_assigns_a_pixel_to_the_nearest_colour():
    # yellow and orange are 71 apart: with a tolerance of 60 a pixel near both belongs to the nearest
    frames = torch.full((1, 3, 10, 10), 200, dtype=torch.uint8)
    frames[0, :, 1:4, 1:4] = torch.tensor(COLOURS["yellow"], dtype=torch.uint8).view(3, 1, 1)
    frames[0, :, 6:9, 6:9] = torch.tensor(COLOURS["orange"], dtype=torch.uint8).view(3, 1, 1)
    centres, found = locate_objects(frames, [COLOURS["yellow"], COLOURS["orange"]], tolerance=60)
    assert found.all()
    assert centres[0].tolist() == [[2.0, 2.0], [7.0, 7.0]]


def test_locate_objects_validates_its_arguments():
    frames = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="colours"):
        locate_objects(frames, [(1, 2)])
    with pytest.raises(ValueError, match="colours"):
        locate_objects(frames, [(1, 2, 300)])
    with pytest.raises(TypeError, match="colours"):
        locate_objects(frames, "red")
    with pytest.raises(ValueError, match="tolerance"):
        locate_objects(frames, [(1, 2, 3)], tolerance=0)
    with pytest.raises(ValueError, match="min_pixels"):
        locate_objects(frames, [(1, 2, 3)], min_pixels=[1, 2])
    with pytest.raises(ValueError, match="frames"):
        locate_objects(torch.zeros(2, 8, 8), [(1, 2, 3)])
    with pytest.raises(ValueError, match="frames"):
        locate_objects(torch.full((1, 3, 8, 8), 2.0), [(1, 2, 3)])


# -- action_from_text -------------------------------------------------------------------------------------


def fill(template: str, placeholder: str) -> str:
    return template.replace("[something]", placeholder).replace("[Something]", placeholder)


PLACEHOLDERS = [f"{c} {s}" for c, s in itertools.product(COLOURS, SHAPES)] + ["hand", "a blue cup", "it"]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_action_from_text_round_trips_every_filled_template(action):
    for placeholder in PLACEHOLDERS:
        sentence = fill(ACTIONS[action], placeholder)
        assert action_from_text(sentence) == action, sentence
        assert action_from_text(sentence.lower()) == action
        assert action_from_text(f"In this video: {sentence.upper()}!") == action
        assert action_from_text(f"I think the clip shows {sentence}, then nothing else happens.") == action
    # the labels SyntheticMotion writes
    for item in (SyntheticMotion(12, frames=2, size=32, seed=5, actions=[action])[i] for i in range(3)):
        assert action_from_text(item["label"]) == action


def test_action_from_text_tells_directions_and_verbs_apart():
    assert action_from_text("Moving red circle from left to right") == "move_right"
    assert action_from_text("Moving red circle from right to left") == "move_left"
    assert action_from_text("Pushing red circle from right to left") == "push_left"
    assert action_from_text("pushing red circle, from left to right.") == "push_right"
    assert action_from_text("Moving red circle and blue square closer to each other") == "approach"
    assert action_from_text("Green square falling like a rock") == "fall"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a red circle",
        "moving from left to right",  # no object
        "falling like a rock",  # no object
        "moving red circle from left to right, then moving it from right to left",  # two actions
        "moving red circle from left to left",
    ],
)
def test_action_from_text_is_none_without_exactly_one_action(text):
    assert action_from_text(text) is None


def test_action_from_text_rejects_non_strings():
    with pytest.raises(TypeError, match="text"):
        action_from_text(None)


# -- evaluate_synthetic_foresight -----------------------------------------------------------------------------


def true_centres(item) -> torch.Tensor:
    return box_centres(item["video_boxes"])


def test_an_oracle_has_no_centre_error_and_beats_copy():
    data = clips(6)
    result = evaluate_synthetic_foresight(lambda context, item: item["video"], data)
    assert result.horizons == list(range(1, 9))
    assert result.centre_error["prediction"].shape == (6, 8)
    np.testing.assert_allclose(result.centre_error["prediction"], 0.0, atol=1e-6)
    assert (result.missing["prediction"] == 0).all()
    assert (result.psnr["prediction"] == 100.0).all()
    np.testing.assert_allclose(result.ssim["prediction"], 1.0, atol=1e-5)
    summary = result.summary()
    versus_copy = summary["last_frame"]["prediction_vs_copy"]
    assert versus_copy["mean_a"] == 0.0 and versus_copy["mean_b"] > 0 and versus_copy["mean_diff"] < 0
    assert versus_copy["ratio"] == 0.0 and versus_copy["n"] == 6 and versus_copy["horizon"] == 8
    assert versus_copy["ci95"][1] < 0
    assert summary["action_recall"] == {"real": None, "generated": None, "prompt": None}
    assert summary["action_and_objects_recall"] == {"real": None, "generated": None, "prompt": None}


def test_the_baselines_errors_are_the_true_displacement_and_constant_velocity():
    data = clips(6)
    result = evaluate_synthetic_foresight(lambda context, item: item["video"], data)
    for i in range(len(data)):
        item = data[i]
        truth = true_centres(item)  # t k 2
        displacement = (truth[1:] - truth[0]).norm(dim=-1).mean(dim=-1)
        np.testing.assert_allclose(result.centre_error["copy"][i], displacement.numpy(), atol=1e-5)
        context = box_centres(item["context_boxes"])  # frames 0 and 3
        velocity = (context[1] - context[0]) / 3
        horizons = torch.arange(1, 9, dtype=torch.float32).view(-1, 1, 1)
        expected = (context[1] + horizons * velocity - truth[1:]).norm(dim=-1).mean(dim=-1)
        np.testing.assert_allclose(result.centre_error["extrapolation"][i], expected.numpy(), atol=1e-4)
    # the synthetic motion is not all constant-velocity, but the tracker is far better than copying
    assert result.centre_error["extrapolation"][:, -1].mean() < result.centre_error["copy"][:, -1].mean()


def test_missing_objects_count_as_the_frame_diagonal():
    data = clips(3, size=40)

    def background_only(context, item):
        return torch.full_like(item["video"], 200)

    result = evaluate_synthetic_foresight(background_only, data)
    diagonal = math.hypot(40, 40)
    assert result.diagonal == pytest.approx(diagonal)
    np.testing.assert_allclose(result.centre_error["prediction"], diagonal)
    assert result.missing["prediction"].tolist() == [[n] * 8 for n in result.objects]
    assert result.summary()["missing_fraction"]["prediction"] == [1.0] * 8
    assert (result.missing["copy"] == 0).all()


def test_a_blurred_half_found_prediction_is_measured_not_dropped():
    # frame 1 of each prediction is blank: that horizon is the diagonal, the others the copy's error
    data = clips(2)

    def copy_with_a_blank_frame(context, item):
        video = item["context"][-1:].expand_as(item["video"]).clone()
        video[1] = 200
        return video

    result = evaluate_synthetic_foresight(copy_with_a_blank_frame, data)
    np.testing.assert_allclose(result.centre_error["prediction"][:, 0], result.diagonal)
    np.testing.assert_allclose(result.centre_error["prediction"][:, 1:], result.centre_error["copy"][:, 1:])


def test_descriptions_and_prompts_give_action_recall():
    data = clips(6)  # one clip per action
    right = data.dataset.actions.index("move_right")
    said = f"Moving {data[right]['placeholders'][0]} from left to right"

    def predict(context, item):
        return {"video": item["video"], "prompt": item["label"], "description": said}

    seen = []

    def describe(video):
        seen.append(video)
        return said if len(seen) % 2 else "nothing happens"

    result = evaluate_synthetic_foresight(predict, data, describe=describe)
    assert len(seen) == 6  # the real videos only: predict gave its own descriptions
    recall = result.summary()["action_recall"]
    assert recall == {"real": pytest.approx(1 / 6), "generated": pytest.approx(1 / 6), "prompt": 1.0}
    assert result.generated_descriptions == [said] * 6
    # counting the objects too: the move_right clip's description names its object, a wrong object does not count
    strict = result.summary()["action_and_objects_recall"]
    assert strict["prompt"] == 1.0 and strict["generated"] == pytest.approx(1 / 6)
    other = "purple circle" if data[right]["placeholders"] != ["purple circle"] else "green square"
    wrong = evaluate_synthetic_foresight(
        lambda context, item: {"video": item["video"], "description": f"moving {other} from left to right"}, data
    ).summary()
    assert wrong["action_recall"]["generated"] == pytest.approx(1 / 6)
    assert wrong["action_and_objects_recall"]["generated"] == 0.0
    # the research's looser measure (verb and objects) does not tell directions apart
    def leftwards(context, item):
        return {"video": item["video"], "description": f"Moving {item['placeholders'][0]} from right to left"}

    loose = evaluate_synthetic_foresight(leftwards, data).summary()
    assert loose["action_recall"]["generated"] == pytest.approx(1 / 6)  # move_left only
    # move_left, move_right, and approach: its objects are two squares, and "square" is mentioned
    assert loose["mention_recall"]["generated"] == pytest.approx(3 / 6)
    assert result.summary()["mention_recall"]["prompt"] == 1.0
    per_action = result.summary()["per_action"]
    assert per_action["move_right"]["recall_generated"] == 1.0 and per_action["fall"]["recall_generated"] == 0.0

    # without a description from predict, describe reads the predicted video too
    seen.clear()
    result = evaluate_synthetic_foresight(lambda context, item: item["video"], data, describe=lambda v: said)
    assert result.generated_descriptions == [said] * 6 and result.prompts is None


def test_the_result_is_json_serialisable_and_round_trips():
    result = evaluate_synthetic_foresight(
        lambda context, item: item["context"][-1:].expand_as(item["video"]), clips(3), describe=lambda video: "x"
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data["summary"]) >= {"centre_error", "missing_fraction", "psnr", "ssim", "last_frame", "action_recall"}
    again = SyntheticForesightResult.from_dict(data)
    assert again.summary() == result.summary()
    # a copy prediction is the copy baseline
    np.testing.assert_allclose(result.centre_error["prediction"], result.centre_error["copy"])


def test_evaluate_synthetic_foresight_validates_its_inputs():
    data = clips(1)
    with pytest.raises(ValueError, match="predict returned"):
        evaluate_synthetic_foresight(lambda context, item: item["video"][:3], data)
    with pytest.raises(ValueError, match="predict"):
        evaluate_synthetic_foresight(lambda context, item: item["video"].float() * 2, data)
    with pytest.raises(ValueError, match="'video'"):
        evaluate_synthetic_foresight(lambda context, item: {"frames": item["video"]}, data)
    with pytest.raises(TypeError, match="predict"):
        evaluate_synthetic_foresight("model", data)
    with pytest.raises(ValueError, match="min_area"):
        evaluate_synthetic_foresight(lambda context, item: item["video"], data, min_area=1.5)
    with pytest.raises(KeyError, match="video_boxes"):
        evaluate_synthetic_foresight(lambda context, item: item["video"], [{"context": 0, "video": 0}])
    # one clip: no paired comparison
    assert evaluate_synthetic_foresight(lambda c, item: item["video"], data).comparison() is None
