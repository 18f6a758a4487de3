import numpy as np
import pytest
import torch
from PIL import Image

from foresight_models.inputs import to_frames, to_pil_images


def test_pil_image_becomes_one_frame_clip():
    image = Image.fromarray(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3))
    frames = to_frames(image)
    assert frames.shape == (1, 1, 3, 4, 5)
    assert torch.equal(frames[0, 0], torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255)


def test_list_of_images_is_one_clip_and_pil_round_trips():
    clip = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    frames = to_frames([to_pil_images(clip.float() / 255)[i] for i in range(3)])
    assert frames.shape == (1, 3, 3, 8, 8)
    assert torch.equal((frames[0] * 255).round().to(torch.uint8), clip)


def test_grayscale_and_rgba_pil_images_become_rgb():
    assert to_frames(Image.new("L", (4, 4), 7)).shape == (1, 1, 3, 4, 4)
    assert to_frames(Image.new("RGBA", (4, 4))).shape == (1, 1, 3, 4, 4)


def test_four_dim_numpy_channels_last_is_the_frames_of_one_clip():
    clip = np.random.default_rng(0).random((2, 6, 7, 3))
    frames = to_frames(clip)
    assert frames.shape == (1, 2, 3, 6, 7)
    assert torch.allclose(frames[0, 1, 2], torch.from_numpy(clip[1, :, :, 2]).float())


def test_video_tensor_is_kept():
    video = torch.rand(2, 4, 3, 8, 8)
    assert torch.equal(to_frames(video), video)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (torch.rand(1, 4, 8, 8), ValueError, "channels"),
        (torch.rand(3, 8, 8) * 2, ValueError, r"\[0, 1\]"),
        (torch.zeros(3, 8, 8, dtype=torch.int32), TypeError, "dtype"),
        ([], ValueError, "at least one image"),
        ("image.png", TypeError, "PIL.Image"),
        (torch.rand(0, 1, 3, 8, 8), ValueError, "empty"),
        ([torch.rand(3, 8, 8), torch.rand(3, 9, 8)], ValueError, "same shape"),
    ],
)
def test_bad_input_is_named(value, error, match):
    with pytest.raises(error, match=match):
        to_frames(value, name="image")
