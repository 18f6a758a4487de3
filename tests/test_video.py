import os
import pickle
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from foresight_models.data.video import (
    ClipTooShortError,
    VideoDecodeError,
    frame_rate,
    read_video,
    video_info,
    write_video,
)

T, H, W, FPS = 30, 48, 64, 12
# Mean absolute error (0-255 scale) allowed after a lossy round trip of the smooth test clip
# (measured: mp4 0.6, webm 0.7, gif 15).
LOSSY_TOLERANCE = {"mp4": 3.0, "webm": 4.0, "gif": 20.0}  # gif stores 3-3-2 bit colour
# small keyframe interval so that windows need real seeks
FAST = {"mp4": {"g": "8"}, "webm": {"g": "8", "deadline": "realtime", "cpu-used": "8"}, "gif": None}


def make_clip(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """uint8 (t, h, w, 3): a bright bar moving right over a smooth gradient that changes per frame."""
    ys, xs = np.mgrid[0:h, 0:w]
    clip = np.empty((t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        clip[i, ..., 0] = (xs * 255 // (w - 1)).astype(np.uint8)
        clip[i, ..., 1] = (ys * 255 // (h - 1)).astype(np.uint8)
        clip[i, ..., 2] = (i * 255) // (t - 1)
        x0 = (2 * i) % (w - 12)
        clip[i, 8:24, x0 : x0 + 12] = 255
    return clip


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return make_clip()


@pytest.fixture(scope="module")
def files(tmp_path_factory, clip) -> dict[str, str]:
    root = tmp_path_factory.mktemp("videos")
    return {
        ext: str(write_video(clip, root / f"clip.{ext}", fps=FPS, options=FAST[ext])) for ext in ("mp4", "webm", "gif")
    }


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
def test_round_trip_count_size_and_content(files, clip, ext):
    frames = read_video(files[ext])
    assert frames.dtype == torch.uint8
    assert frames.shape == (T, 3, H, W)
    reference = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    error = (frames.float() - reference).abs().mean().item()
    assert error < LOSSY_TOLERANCE[ext], error
    # every frame is the matching one (the blue channel encodes the frame index)
    blue = frames[:, 2].float().mean(dim=(1, 2))
    assert torch.allclose(blue, reference[:, 2].mean(dim=(1, 2)), atol=6)


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
def test_video_info(files, ext):
    info = video_info(files[ext])
    assert info.num_frames == T
    assert info.size == (H, W)
    assert info.codec == {"mp4": "h264", "webm": "vp9", "gif": "gif"}[ext]
    if ext != "gif":  # gif stores delays in 1/100 s, so 12 fps becomes 12.5
        assert info.fps == pytest.approx(FPS)
        assert info.duration == pytest.approx(T / FPS, abs=0.1)


@pytest.mark.parametrize("ext", ["mp4", "webm", "gif"])
@pytest.mark.parametrize(
    "start,num_frames,stride",
    [(0, 16, 1), (1, 8, 1), (9, 16, 1), (13, 5, 3), (17, 7, 2), (29, 1, 1), (20, None, 1), (5, None, 4), (14, 16, 1)],
)
def test_window_equals_full_decode_sliced(files, ext, start, num_frames, stride):
    full = read_video(files[ext])
    window = read_video(files[ext], start=start, num_frames=num_frames, stride=stride)
    expected = full[start::stride][:num_frames]
    assert window.shape == expected.shape
    assert torch.equal(window, expected)


@pytest.mark.parametrize("ext", ["mp4", "webm"])
def test_window_equals_plain_pyav_decode(files, ext):
    with av.open(files[ext]) as container:
        plain = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    window = read_video(files[ext], start=11, num_frames=9, stride=2)
    assert torch.equal(window, torch.from_numpy(plain[11:28:2]).permute(0, 3, 1, 2))


def test_fps_resampling_picks_nearest_frames(files):
    full = read_video(files["webm"])
    assert torch.equal(read_video(files["webm"], fps=FPS / 2, start=3, num_frames=6), full[3::2][:6])
    assert torch.equal(read_video(files["webm"], fps=FPS / 3), full[::3])
    doubled = read_video(files["webm"], fps=FPS * 2, start=4, num_frames=6)  # frames repeat
    assert torch.equal(doubled, full[[4, 5, 5, 6, 6, 7]])


def test_resize_matches_area_downsampling(files):
    full = read_video(files["mp4"])
    small = read_video(files["mp4"], size=(24, 32), num_frames=4, start=6)
    assert small.shape == (4, 3, 24, 32)
    reference = F.interpolate(full[6:10].float(), size=(24, 32), mode="area")
    assert (small.float() - reference).abs().mean().item() < 4.0
    assert read_video(files["mp4"], size=16, num_frames=2).shape == (2, 3, 16, 16)


def test_window_past_the_end_raises_clip_too_short(files):
    with pytest.raises(ClipTooShortError) as info:
        read_video(files["webm"], start=20, num_frames=8, stride=2)
    assert info.value.available == T
    assert info.value.needed == 20 + 7 * 2 + 1
    assert "clip.webm" in str(info.value)


@pytest.mark.parametrize("kind", ["tensor_float", "tensor_uint8", "numpy", "pil"])
def test_write_accepts_tensor_numpy_and_pil(tmp_path, clip, kind):
    frames = {
        "tensor_float": torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255,
        "tensor_uint8": torch.from_numpy(clip).permute(0, 3, 1, 2),
        "numpy": clip,
        "pil": [Image.fromarray(frame) for frame in clip],
    }[kind]
    path = write_video(frames, tmp_path / "out.mp4", fps=FPS, options=FAST["mp4"])
    # H.264 is lossy and x264's threaded encoder is not deterministic: compare with the input, not another encode
    decoded = read_video(path)
    assert decoded.shape == (T, 3, H, W)
    reference = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    per_frame = (decoded.float() - reference).abs().mean(dim=(1, 2, 3))
    assert per_frame.max().item() < LOSSY_TOLERANCE["mp4"], per_frame
    assert video_info(path).fps == FPS


def test_failed_write_keeps_existing_file(tmp_path, clip):
    path = write_video(clip, tmp_path / "keep.mp4", fps=FPS)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - FFmpeg reports an unknown encoder as its own error type
        write_video(clip, path, fps=FPS, codec="no_such_encoder")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.mp4"]  # no temporary file left behind


def test_written_file_gets_the_usual_permissions(tmp_path, clip):
    umask = os.umask(0o022)
    try:
        path = write_video(clip, tmp_path / "shared.mp4", fps=FPS, options=FAST["mp4"])
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("ext", ["mp4", "webm"])
def test_truncated_file_raises_decode_error_naming_it(tmp_path, files, ext):
    data = open(files[ext], "rb").read()
    bad = tmp_path / f"truncated.{ext}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="truncated") as info:
        read_video(bad)
    assert info.value.path == str(bad)
    with pytest.raises(VideoDecodeError, match="truncated"):
        video_info(bad)


@pytest.mark.parametrize("content", [b"this is a text file, not a video\n", b""])
def test_non_video_renamed_webm_raises_decode_error(tmp_path, content):
    bad = tmp_path / "not_a_video.webm"
    bad.write_bytes(content)
    for reader in (read_video, video_info):
        with pytest.raises(VideoDecodeError, match="not_a_video.webm"):
            reader(bad)


def test_decode_error_survives_pickling():
    error = pickle.loads(pickle.dumps(VideoDecodeError("/data/1.webm", "truncated")))
    assert (error.path, error.reason) == ("/data/1.webm", "truncated")
    short = pickle.loads(pickle.dumps(ClipTooShortError("/data/1.webm", 20, 10)))
    assert (short.needed, short.available) == (20, 10)


def test_bad_arguments_are_rejected(tmp_path, files, clip):
    path = files["mp4"]
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="exclusive"):
        read_video(path, stride=2, fps=6)
    with pytest.raises(ValueError, match="num_frames"):
        read_video(path, num_frames=0)
    with pytest.raises(ValueError, match="start"):
        read_video(path, start=-1)
    with pytest.raises(ValueError, match="stride"):
        read_video(path, stride=0)
    with pytest.raises(ValueError, match="fps"):
        read_video(path, fps=0)
    with pytest.raises(TypeError, match="fps"):
        read_video(path, fps="12")
    with pytest.raises(ValueError, match="size"):
        read_video(path, size=(0, 10))
    with pytest.raises(TypeError, match="size"):
        read_video(path, size=(10,))
    with pytest.raises(TypeError, match="path"):
        read_video(123)
    with pytest.raises(ValueError, match="suffix"):
        write_video(clip, tmp_path / "clip.xyz", fps=FPS)
    with pytest.raises(ValueError, match="even"):
        write_video(clip[:, :47], tmp_path / "odd.mp4", fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        write_video(clip, tmp_path / "clip.mp4", fps=-1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_video(torch.full((2, 3, 8, 8), 2.0), tmp_path / "clip.mp4", fps=FPS)
    with pytest.raises(ValueError, match="frames"):
        write_video(torch.zeros(3, 8, 8), tmp_path / "clip.mp4", fps=FPS)
    assert not (tmp_path / "clip.mp4").exists()


@pytest.mark.parametrize("ext,codec", [("mp4", "libx264"), ("webm", "libvpx-vp9")])
def test_window_exact_with_variable_frame_rate(tmp_path, clip, ext, codec):
    """Two frames missing after frame 10: timestamps no longer equal index / fps past that point."""
    path = tmp_path / f"vfr.{ext}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS, options={"g": "8"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        pts = 0
        for i, image in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, FPS)
            pts += 3 if i == 10 else 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    full = read_video(path)
    assert full.shape[0] == T
    for start in (5, 12, 20, 25):
        assert torch.equal(read_video(path, start=start, num_frames=5), full[start : start + 5])


@pytest.mark.parametrize("fps", [0.0001, 1e-9])
def test_write_refuses_a_rate_no_file_can_store(tmp_path, clip, fps):
    """A rate the container rounds to 0 used to come out as a 24 fps file."""
    with pytest.raises(ValueError, match=r"fps: a video file cannot store") as info:
        write_video(clip[:2], tmp_path / "slow.mp4", fps=fps)
    assert repr(fps) in str(info.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="--fps"):
        frame_rate(fps, name="--fps")


@pytest.mark.parametrize("fps", [0.5, 12, 23.976, 30000 / 1001])
def test_written_rate_is_frame_rate(tmp_path, clip, fps):
    path = write_video(clip[:2], tmp_path / "clip.mp4", fps=fps, options=FAST["mp4"])
    assert video_info(path).fps == pytest.approx(float(frame_rate(fps)), rel=1e-9)
    assert float(frame_rate(fps)) == pytest.approx(fps, rel=1e-3)
