import pytest
import torch

from foresight_models.data import ForesightClips, SyntheticMotion


def test_video_starts_at_the_last_context_frame():
    motion = SyntheticMotion(2, frames=12, size=32, seed=1)
    clips = ForesightClips(motion, context_indices=(0, 2), num_frames=9)
    item, raw = clips[1], motion[1]
    assert torch.equal(item["context"], raw["frames"][[0, 2]])
    assert torch.equal(item["video"], raw["frames"][2:11])
    assert torch.equal(item["video"][0], item["context"][-1])
    assert torch.equal(item["video_boxes"], raw["boxes"][2:11])
    assert torch.equal(item["context_boxes"], raw["boxes"][[0, 2]])
    assert item["frames"] is item["video"]


def test_too_short_clips_and_bad_indices_are_refused():
    motion = SyntheticMotion(1, frames=10, size=32)
    with pytest.raises(ValueError, match="need 11"):
        ForesightClips(motion, context_indices=(0, 2), num_frames=9)[0]
    with pytest.raises(ValueError, match="increasing"):
        ForesightClips(motion, context_indices=(3, 1))
    with pytest.raises(TypeError, match="context_indices"):
        ForesightClips(motion, context_indices="01")
