import json

import numpy as np
import pytest
import torch

from foresight_models.data.synthetic import ACTIONS, SyntheticMotion
from foresight_models.data.video import read_video, video_info

FAST_VP9 = {"deadline": "realtime", "cpu-used": "8"}


def test_deterministic_by_seed_and_index():
    a, b = SyntheticMotion(6, frames=8, size=32, seed=5), SyntheticMotion(6, frames=8, size=32, seed=5)
    for i in range(6):
        for key in ("frames", "boxes", "masks", "velocities"):
            assert torch.equal(a[i][key], b[i][key])
        assert a[i]["label"] == b[i]["label"]
    other = SyntheticMotion(6, frames=8, size=32, seed=6)
    assert any(not torch.equal(a[i]["frames"], other[i]["frames"]) for i in range(6))
    # an item does not depend on the dataset's length
    assert torch.equal(SyntheticMotion(2, frames=8, size=32, seed=5)[1]["frames"], a[1]["frames"])


@pytest.mark.parametrize("index", range(6))
def test_boxes_masks_and_pixels_agree(index):
    item = SyntheticMotion(6, frames=12, size=(40, 56), seed=1)[index]
    frames, boxes, masks = item["frames"], item["boxes"], item["masks"]
    t, k = boxes.shape[:2]
    assert frames.shape == (12, 3, 40, 56) and frames.dtype == torch.uint8
    assert masks.shape == (t, k, 40, 56) and k == len(item["object_names"])
    assert masks.any(dim=(2, 3)).all()  # every object visible in every frame
    assert not (masks.sum(dim=1) > 1).any()  # objects never overlap
    for f in range(t):
        for j in range(k):
            ys, xs = torch.nonzero(masks[f, j], as_tuple=True)
            expected = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
            assert torch.equal(boxes[f, j], expected)
            # pixels under a mask have one colour, different from the background
            colours = frames[f][:, masks[f, j]]
            assert (colours == colours[:, :1]).all()
    first = ~masks[0].any(dim=0)  # the background is one colour too
    assert (frames[0][:, first] == frames[0][:, first][:, :1]).all()
    # the shapes keep their area, as they stay fully inside the frame
    areas = masks.sum(dim=(2, 3))
    assert (areas == areas[:1]).all()


def centres(boxes: torch.Tensor) -> torch.Tensor:
    return torch.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], -1)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_motion_follows_the_action(action):
    item = SyntheticMotion(3, frames=16, size=64, seed=2, actions=[action])[1]
    c = centres(item["boxes"])  # t k 2
    step = c[1:] - c[:-1]
    assert torch.equal(step, item["velocities"][:-1])  # velocities are the true displacements
    assert (item["velocities"][-1] == 0).all()
    dx, dy = step[..., 0], step[..., 1]
    if action == "move_right":
        assert (dx >= 0).all() and dx.sum() > 10 and (dy == 0).all()
    elif action == "move_left":
        assert (dx <= 0).all() and dx.sum() < -10 and (dy == 0).all()
    elif action in ("push_right", "push_left"):
        sign = 1 if action == "push_right" else -1
        assert item["object_names"][1] == "hand"
        hand, obj = sign * dx[:, 1], sign * dx[:, 0]
        assert (hand > 0).all()  # the hand keeps moving
        moving = torch.nonzero(obj > 0).flatten()
        assert obj[0] == 0 and len(moving) > 0  # the object rests, then is pushed
        assert torch.equal(obj[moving[0] + 1 :], hand[moving[0] + 1 :])  # and moves with the hand
        gap = sign * (c[:, 0, 0] - c[:, 1, 0])
        assert (gap >= gap[-1]).all()  # they end in contact
    elif action == "fall":
        assert (dy >= 0).all() and (dx == 0).all()
        falling = dy[dy > 0]
        assert falling[-1] > falling[0]  # accelerates
        assert item["boxes"][-1, 0, 3] == 64  # lies on the floor
    elif action == "approach":
        distance = (c[:, 0, 0] - c[:, 1, 0]).abs()
        assert (distance[1:] <= distance[:-1]).all() and distance[-1] < distance[0]


def test_labels_fill_the_template():
    dataset = SyntheticMotion(12, frames=4, size=32, seed=0)
    for i in range(12):
        item = dataset[i]
        assert item["template"] == ACTIONS[item["action"]]
        assert item["id"] == str(i)
        label = item["template"]
        for placeholder in item["placeholders"]:
            label = label.replace("[something]", placeholder, 1).replace("[Something]", placeholder, 1)
        assert item["label"] == label[0].lower() + label[1:]
        assert "[" not in item["label"]
        assert len(item["placeholders"]) == item["template"].lower().count("[something]")


@pytest.mark.parametrize("video_format", ["webm", "mp4"])
def test_write_ssv2_layout_of_real_files(tmp_path, video_format):
    dataset = SyntheticMotion(3, frames=6, size=32, seed=4, first_id=100)
    root = dataset.write_ssv2(
        tmp_path, split="validation", video_format=video_format, options=FAST_VP9 if video_format == "webm" else None
    )
    records = json.loads((root / "labels" / "something-something-v2-validation.json").read_text())
    assert [r["id"] for r in records] == ["100", "101", "102"]
    classes = json.loads((root / "labels" / "labels.json").read_text())
    assert sorted(int(v) for v in classes.values()) == list(range(len(ACTIONS)))
    for i, record in enumerate(records):
        item = dataset[i]
        assert {k: record[k] for k in ("label", "template", "placeholders")} == {
            k: item[k] for k in ("label", "template", "placeholders")
        }
        path = root / "20bn-something-something-v2" / f"{record['id']}.{video_format}"
        assert video_info(path).codec == {"webm": "vp9", "mp4": "h264"}[video_format]
        frames = read_video(path)
        assert frames.shape == item["frames"].shape
        error = (frames.float() - item["frames"].float()).abs().mean().item()
        assert error < 4.0, error  # lossy codec; flat colours survive well


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="num_clips"):
        SyntheticMotion(0)
    with pytest.raises(ValueError, match="frames"):
        SyntheticMotion(2, frames=1)
    with pytest.raises(ValueError, match="size"):
        SyntheticMotion(2, size=8)
    with pytest.raises(ValueError, match=r"actions\[1\]: expected one of .*got 'dance'"):
        SyntheticMotion(2, actions=["fall", "dance"])
    with pytest.raises(TypeError, match="actions"):
        SyntheticMotion(2, actions="fall")
    with pytest.raises(TypeError, match="size"):
        SyntheticMotion(2, size=(32, 32, 3))
    with pytest.raises(TypeError, match="index"):
        SyntheticMotion(2)[0.0]
    with pytest.raises(IndexError, match="out of range"):
        SyntheticMotion(2)[2]
    with pytest.raises(ValueError, match="split"):
        SyntheticMotion(2, size=16).write_ssv2(tmp_path, split="dev")
    with pytest.raises(ValueError, match="video_format"):
        SyntheticMotion(2, size=16).write_ssv2(tmp_path, video_format="avi")
    assert np.array_equal(SyntheticMotion(2, size=16)[-1]["frames"], SyntheticMotion(2, size=16)[1]["frames"])
