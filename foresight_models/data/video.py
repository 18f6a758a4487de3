"""Reading and writing video files with PyAV (H.264 mp4, VP9 webm, gif, and whatever FFmpeg decodes).

Frames are numbered from 0 in display order. A window (``start``, ``num_frames``, ``stride`` or
``fps``) is read by seeking to the keyframe before ``start`` and decoding forward to the exact first
wanted frame, then stopping after the last one, so a 16-frame window in a long clip costs at most
one keyframe interval plus the window instead of the whole file. Frame numbers after a seek come
from the packet timestamps (demuxed without decoding, cheap), so they are exact for variable frame
rates too; when timestamps are missing or ambiguous the reader decodes from the start and counts
frames. Either way a windowed read returns exactly the frames that a full decode sliced the same way
returns.

All frames come back as ``torch.uint8`` tensors laid out ``(t, c, h, w)`` with ``c = 3`` (RGB).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validation import check_int, check_real, check_size_pair

__all__ = ["ClipTooShortError", "VideoDecodeError", "VideoInfo", "frame_rate", "read_video", "video_info", "write_video"]

PathLike = str | os.PathLike

# container suffix -> (encoder, pixel format) used by ``write_video``
_ENCODERS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".gif": ("gif", "rgb8"),
}
_MAX_RATE_DENOMINATOR = 1001  # NTSC rates are n/1001
_DEFAULT_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "18", "preset": "fast"},
    "libvpx-vp9": {"crf": "24", "b": "0", "deadline": "good", "cpu-used": "5", "row-mt": "1"},
    "gif": {},
}


class VideoDecodeError(RuntimeError):
    """A video file is corrupt, truncated, empty or in a format FFmpeg cannot decode.

    Attributes:
        path: the file.
        reason: what went wrong, in words.
    """

    def __init__(self, path: PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path!r}: {reason}")

    def __reduce__(self):  # keep (path, reason) through pickling, e.g. out of DataLoader workers
        return (type(self), (self.path, self.reason))


class ClipTooShortError(ValueError):
    """A requested window reaches past the last frame of a (valid) video.

    Attributes:
        path: the file.
        needed: frames the window needs from frame 0 (last wanted index + 1).
        available: frames the file has.
    """

    def __init__(self, path: PathLike, needed: int, available: int):
        self.path = str(path)
        self.needed = needed
        self.available = available
        super().__init__(
            f"video {self.path!r} has {available} frames, the requested window needs frames up to index {needed - 1}"
        )

    def __reduce__(self):
        return (type(self), (self.path, self.needed, self.available))


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds (its first video stream).

    Attributes:
        path: the file.
        num_frames: number of frames (from the container, or by counting packets without decoding).
        fps: average frame rate.
        height, width: frame size in pixels.
        codec: decoder name, e.g. ``"h264"``, ``"vp9"``, ``"gif"``.
        duration: seconds, ``num_frames / fps`` when the container does not say.
    """

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    codec: str
    duration: float

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)


# --------------------------------------------------------------------------- argument checks


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def frame_rate(fps: Any, *, name: str = "fps") -> Fraction:
    """The exact frame rate :func:`write_video` stores for ``fps``: the nearest fraction with a denominator <= 1001.

    ``29.97`` gives ``2997/100``, ``30000 / 1001`` gives ``30000/1001``. Call it to check a rate before
    producing the frames (``foresight predict`` does, before loading a model); ``name`` is the
    argument named in errors.

    Raises:
        TypeError: ``fps`` is not a real number.
        ValueError: ``fps`` is not a finite number > 0, or a video file cannot store it (the nearest
            storable rate differs from it by more than 0.1%, e.g. ``fps=0.0001``).
    """
    value = check_real(fps, name, minimum=0.0, min_inclusive=False)
    rate = Fraction(fps).limit_denominator(_MAX_RATE_DENOMINATOR)
    if rate <= 0 or abs(float(rate) - value) > 1e-3 * value:
        raise ValueError(
            f"{name}: a video file cannot store {fps!r} frames per second (the nearest storable rate, with a "
            f"denominator <= {_MAX_RATE_DENOMINATOR}, is {float(rate):.6g}); use a rate >= 1/{_MAX_RATE_DENOMINATOR}"
        )
    return rate


# --------------------------------------------------------------------------- opening and metadata


def _open(path: Path):
    import av

    if not path.exists():
        raise FileNotFoundError(f"path: no such video file {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"path: expected a video file, got the directory {str(path)!r}")
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as error:
        raise VideoDecodeError(path, f"FFmpeg cannot open it ({error.strerror or error})") from error
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "it has no video stream")
    return container


def _stream_fps(stream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def _declared_duration(container, stream) -> float | None:
    """Seconds the container says the stream lasts (None when it does not say)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _no_frames_reason(declared: float | None) -> str:
    if declared:
        return f"truncated: the header declares {declared:.3f} s but no frame could be read"
    return "it holds no video frames"


def video_info(path: PathLike) -> VideoInfo:
    """Metadata of ``path``'s first video stream.

    The frames are counted by demuxing every packet (no decoding, cheap), which also finds
    truncated files. Raises ``VideoDecodeError`` for unreadable files and for files whose packets
    end before the duration or frame count their header declares (a truncated download).
    """
    path = _check_path(path)
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        stored_frames = stream.frames
        declared = _declared_duration(container, stream)
        num_frames, last_end = _count_packets(container, stream)
        if num_frames <= 0:
            raise VideoDecodeError(path, _no_frames_reason(declared))
        if stored_frames > 0 and num_frames != stored_frames:
            raise VideoDecodeError(
                path, f"truncated: the header declares {stored_frames} frames but {num_frames} are stored"
            )
        if fps is None:
            raise VideoDecodeError(path, "its video stream has no frame rate")
        if last_end is not None and declared is not None and last_end < declared - 1.5 / float(fps):
            raise VideoDecodeError(
                path, f"truncated: the header declares {declared:.3f} s but the packets end at {last_end:.3f} s"
            )
        duration = declared if declared is not None else num_frames / float(fps)
        return VideoInfo(
            path=str(path),
            num_frames=int(num_frames),
            fps=float(fps),
            height=stream.codec_context.height,
            width=stream.codec_context.width,
            codec=stream.codec_context.name,
            duration=float(duration),
        )
    except av.FFmpegError as error:
        raise VideoDecodeError(path, f"FFmpeg failed reading it ({error.strerror or error})") from error
    finally:
        container.close()


def _count_packets(container, stream) -> tuple[int, float | None]:
    """Number of packets of ``stream`` and the second at which the last one ends (from the stream start)."""
    count, last_end = 0, None
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        count += 1
        if packet.pts is not None and packet.time_base:
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            last_end = end if last_end is None else max(last_end, end)
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    return count, (None if last_end is None else last_end - start)


# --------------------------------------------------------------------------- reading


def _wanted_indices(start: int, num_frames: int | None, step: float) -> Iterator[int]:
    """Frame indices ``start + round(k * step)`` for ``k = 0, 1, ...`` (``num_frames`` of them, or forever)."""
    k = 0
    while num_frames is None or k < num_frames:
        yield start + math.floor(k * step + 0.5)
        k += 1


def read_video(
    path: PathLike,
    *,
    num_frames: int | None = None,
    stride: int | None = None,
    fps: float | None = None,
    start: int = 0,
    size: int | tuple[int, int] | None = None,
) -> torch.Tensor:
    """Decode frames of a video file.

    Args:
        path: a video file FFmpeg can read (mp4/H.264, webm/VP9, gif, ...).
        num_frames: how many frames to return; ``None`` returns every selected frame to the end.
        stride: take every ``stride``-th frame (default 1). Exclusive with ``fps``.
        fps: resample to this frame rate by picking the nearest source frames (frames repeat when
            ``fps`` exceeds the file's rate). Exclusive with ``stride``.
        start: index of the first frame to return (0 = first frame of the file).
        size: resize every frame to ``(height, width)`` (an int means a square); ``None`` keeps the size.

    Returns:
        ``torch.uint8`` tensor ``(t, 3, h, w)``: frames ``start, start + stride, ...`` (RGB).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoDecodeError: the file is corrupt, truncated, empty or not a video.
        ClipTooShortError: ``num_frames`` frames from ``start`` reach past the end of the file.
        ValueError / TypeError: invalid arguments.
    """
    path = _check_path(path)
    if num_frames is not None:
        num_frames = check_int(num_frames, "num_frames")
    start = check_int(start, "start", minimum=0)
    out_size = None if size is None else check_size_pair(size, "size")
    if stride is not None and fps is not None:
        raise ValueError(f"stride and fps are exclusive, got stride={stride!r} and fps={fps!r}")
    if stride is not None:
        stride = check_int(stride, "stride")
    if fps is not None:
        check_real(fps, "fps", minimum=0.0, min_inclusive=False)

    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        source_fps = _stream_fps(stream)
        if fps is not None:
            if source_fps is None:
                raise VideoDecodeError(path, "its video stream has no frame rate, so fps resampling is impossible")
            step = float(source_fps) / float(fps)
        else:
            step = float(stride or 1)
        frames = _decode_window(container, stream, path, start, num_frames, step, out_size)
    except av.FFmpegError as error:
        raise VideoDecodeError(path, f"FFmpeg failed decoding it ({error.strerror or error})") from error
    finally:
        container.close()
    return torch.from_numpy(np.stack(frames))  # t c h w


def _display_timestamps(container, stream) -> list[int] | None:
    """Sorted presentation timestamps of every packet of ``stream`` (demuxed, not decoded).

    The rank of a timestamp in this list is the frame's index in display order, which holds for
    variable frame rates too. ``None`` when some packet has no timestamp.
    """
    timestamps = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None
        timestamps.append(packet.pts)
    timestamps.sort()
    return timestamps


def _decode_window(container, stream, path, start, num_frames, step, out_size) -> list[np.ndarray]:
    """Decode the wanted frames, seeking when the packet timestamps allow it."""
    stream.thread_type = "AUTO"
    if start > 0 and stream.codec_context.name != "gif":
        timestamps = _display_timestamps(container, stream)
        if timestamps is not None and start < len(timestamps) and len(set(timestamps)) == len(timestamps):
            container.seek(timestamps[start], stream=stream, backward=True, any_frame=False)
            result = _decode_forward(container, stream, path, start, num_frames, step, out_size, timestamps)
            if result is not None:
                return result
        container.seek(stream.start_time or 0, stream=stream, backward=True, any_frame=False)
    result = _decode_forward(container, stream, path, start, num_frames, step, out_size, None)
    assert result is not None
    return result


def _decode_forward(container, stream, path, start, num_frames, step, out_size, timestamps):
    """Decode forward from the current position collecting the wanted frames.

    With ``timestamps`` (after a seek), a frame's index is the rank of its timestamp; ``None`` is
    returned when a frame's timestamp is not in the table or the seek landed after ``start``, so the
    caller decodes from the beginning and counts frames instead.
    """
    rank = {pts: i for i, pts in enumerate(timestamps)} if timestamps is not None else None
    wanted = _wanted_indices(start, num_frames, step)
    next_index = next(wanted)
    frames: list[np.ndarray] = []
    position = -1
    last_pts = None
    for frame in container.decode(stream):
        if rank is not None:
            index = rank.get(frame.pts)
            if index is None or (position < 0 and index > start):
                return None
            if index <= position:
                continue
        else:
            index = position + 1
        position = index
        last_pts = frame.pts if frame.pts is not None else last_pts
        if index < next_index:
            continue
        array = None
        while next_index == index:
            if array is None:
                array = _to_rgb(frame, out_size)
            frames.append(array)
            next_index = next(wanted, None)
            if next_index is None:
                return frames
    # end of stream
    available = position + 1
    declared = _declared_duration(container, stream)
    source_fps = _stream_fps(stream)
    if source_fps is not None and declared is not None and last_pts is not None and stream.time_base is not None:
        last_end = float((last_pts - (stream.start_time or 0)) * stream.time_base) + 1.0 / float(source_fps)
        if last_end < declared - 1.5 / float(source_fps):
            raise VideoDecodeError(
                path, f"truncated: the header declares {declared:.3f} s but frames end at {last_end:.3f} s"
            )
    if available <= 0:
        raise VideoDecodeError(path, _no_frames_reason(declared))
    if num_frames is None:
        if not frames:
            raise ClipTooShortError(path, start + 1, available)
        return frames
    needed = start + math.floor((num_frames - 1) * step + 0.5) + 1
    raise ClipTooShortError(path, needed, available)


def _to_rgb(frame, out_size: tuple[int, int] | None) -> np.ndarray:
    """One decoded frame -> uint8 ``(3, h, w)`` RGB.

    Converting to planar ``gbrp`` and copying the three planes gives the same values as
    ``to_ndarray(format="rgb24")`` without the slow ``h w c -> c h w`` transpose.
    """
    height, width = out_size if out_size is not None else (frame.height, frame.width)
    if out_size is None:
        planar = frame.reformat(format="gbrp")
    else:
        planar = frame.reformat(format="gbrp", width=width, height=height, interpolation="BILINEAR")
    out = np.empty((3, height, width), dtype=np.uint8)
    for channel, plane in zip((1, 2, 0), planar.planes):  # gbrp plane order: G, B, R
        rows = np.frombuffer(plane, dtype=np.uint8, count=plane.line_size * height).reshape(height, plane.line_size)
        out[channel] = rows[:, :width]
    return out


# --------------------------------------------------------------------------- writing


def _frames_to_uint8(frames: Any) -> np.ndarray:
    """Tensor ``(t, c, h, w)``, array ``(t, h, w, c)`` or list of images -> uint8 ``(t, h, w, 3)``."""
    from ..inputs import to_frames

    if isinstance(frames, torch.Tensor):
        if frames.ndim != 4:
            raise ValueError(f"frames: a tensor clip must be (t, c, h, w), got shape {tuple(frames.shape)}")
        clip = to_frames(frames.unsqueeze(0), name="frames")
    elif isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise ValueError(f"frames: an array clip must be (t, h, w, c), got shape {frames.shape}")
        clip = to_frames(frames[None], name="frames")
    elif isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)):
        clip = to_frames(list(frames), name="frames")
    else:
        raise TypeError(
            f"frames: expected a (t, c, h, w) tensor, a (t, h, w, c) array or a list of images, got {type(frames).__name__}"
        )
    return (clip[0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def write_video(
    frames: Any,
    path: PathLike,
    fps: float,
    *,
    codec: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a clip to a video file.

    The encoder follows the suffix: ``.mp4``/``.mov``/``.mkv`` -> H.264 (``libx264``), ``.webm`` ->
    VP9 (``libvpx-vp9``), ``.gif`` -> gif. The file is written next to ``path`` under a temporary
    name and moved into place only when complete, so an existing file is never left half-written.

    Args:
        frames: ``(t, c, h, w)`` tensor or ``(t, h, w, c)`` array, uint8 or float in [0, 1], or a list of
            PIL images / ``(h, w, c)`` arrays / ``(c, h, w)`` tensors.
        path: output file; its suffix picks the container and default encoder.
        fps: frame rate (> 0), stored as :func:`frame_rate` ``(fps)``; a gif stores frame delays in
            1/100 s, so its rate is the nearest that such delays give.
        codec: override the encoder (any FFmpeg encoder name the container accepts).
        options: encoder options, merged over the defaults (e.g. ``{"crf": "10"}``).

    Returns:
        ``path`` as a ``Path``.
    """
    path = _check_path(path)
    suffix = path.suffix.lower()
    if suffix not in _ENCODERS and codec is None:
        raise ValueError(
            f"path: unsupported suffix {suffix!r} for {str(path)!r}; allowed: {sorted(_ENCODERS)} (or pass codec=)"
        )
    rate = frame_rate(fps)
    array = _frames_to_uint8(frames)
    _, height, width, _ = array.shape
    encoder, pix_fmt = _ENCODERS.get(suffix, (codec, "yuv420p"))
    encoder = codec or encoder
    if pix_fmt == "yuv420p" and encoder == "libx264" and (height % 2 or width % 2):
        raise ValueError(f"frames: H.264 (yuv420p) needs an even height and width, got {height}x{width}")
    merged = {**_DEFAULT_OPTIONS.get(encoder, {}), **(options or {})}

    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        container = av.open(tmp_name, mode="w")
        try:
            stream = container.add_stream(encoder, rate=rate, options=merged)
            stream.width, stream.height = width, height
            stream.pix_fmt = pix_fmt
            for image in array:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
        # mkstemp creates the file 0600; give the finished video the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path
