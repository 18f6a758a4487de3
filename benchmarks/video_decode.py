"""Clips per second for 16-frame windows from 224p webm (VP9) clips: ``read_video`` vs plain PyAV.

``read_video`` seeks to the keyframe before the window, decodes forward to the exact first frame
and stops after the last one. The baselines decode the whole file with a plain PyAV loop
(``container.decode``) and slice the window out afterwards: ``pyav_all`` converts every frame to
RGB (as a decode-everything reader does), ``pyav_all_window_rgb`` converts only the window's frames
(decoding cost alone). All readers use the same threading setting and run in the same process on the
same files and windows, taking turns window by window.

    python benchmarks/video_decode.py                      # short (48 frames) and long (600 frames) clips
    python benchmarks/video_decode.py --long-frames 1200 --reads 40
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from foresight_models.data.video import read_video, video_info, write_video


def make_clip(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 ``(t, h, w, 3)``: a camera panning over a random texture, a moving block and sensor noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(height // 8 + 2, (width + num_frames) // 8 + 2, 3), dtype=np.uint8)
    texture = np.kron(coarse, np.ones((8, 8, 1), dtype=np.uint8))
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        frame = texture[:height, i : i + width].astype(np.int16)
        x = (5 * i) % (width - 40)
        frame[height // 3 : height // 3 + 40, x : x + 40] = (230, 40, 40)
        frame += rng.integers(-6, 7, size=frame.shape, dtype=np.int16)
        frames[i] = frame.clip(0, 255).astype(np.uint8)
    return frames


def pyav_decode_all(path: Path, start: int, num_frames: int, *, rgb_all: bool, thread_type: str) -> torch.Tensor:
    """The plain loop: decode every frame of the file, then slice the window."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        if rgb_all:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
            window = frames[start : start + num_frames]
        else:
            window = [
                frame.to_ndarray(format="rgb24")
                for i, frame in enumerate(container.decode(stream))
                if start <= i < start + num_frames
            ]
    return torch.from_numpy(np.stack(window)).permute(0, 3, 1, 2)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"# {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
            f"PyAV {av.__version__} (FFmpeg {getattr(av, 'ffmpeg_version_info', '?')})"
        )
        print("| clips | frames/clip | keyframe every | reader | clips/s | speed-up vs pyav_all |")
        print("|---|---|---|---|---|---|")
        for label, length in (("short", args.short_frames), ("long", args.long_frames)):
            paths = []
            for c in range(args.clips):
                clip = make_clip(length, args.height, args.width, seed=c)
                options = {"deadline": "realtime", "cpu-used": "8"}
                if args.gop:
                    options["g"] = str(args.gop)
                paths.append(write_video(clip, Path(tmp) / f"{label}{c}.webm", fps=12, options=options))
            keyframes = _keyframe_interval(paths[0])
            info = video_info(paths[0])
            rng = np.random.default_rng(0)
            windows = [
                (paths[rng.integers(len(paths))], int(rng.integers(0, info.num_frames - args.window + 1)))
                for _ in range(args.reads)
            ]
            readers = {
                "read_video (seek)": lambda p, s: read_video(p, start=s, num_frames=args.window),
                "pyav_all": lambda p, s: pyav_decode_all(p, s, args.window, rgb_all=True, thread_type="AUTO"),
                "pyav_all_window_rgb": lambda p, s: pyav_decode_all(
                    p, s, args.window, rgb_all=False, thread_type="AUTO"
                ),
            }
            for path, start in windows[:3]:  # the readers agree frame for frame
                ours = readers["read_video (seek)"](path, start)
                assert torch.equal(ours, readers["pyav_all"](path, start)), (path, start)
            # Readers take turns window by window (in rotating order), so that load from other
            # processes on a shared machine hits them alike.
            seconds = dict.fromkeys(readers, 0.0)
            names = list(readers)
            for round_ in range(args.rounds):
                for w, (path, start) in enumerate(windows):
                    shift = (round_ + w) % len(names)
                    for name in names[shift:] + names[:shift]:
                        begin = time.perf_counter()
                        readers[name](path, start)
                        seconds[name] += time.perf_counter() - begin
            rates = {name: args.rounds * len(windows) / s for name, s in seconds.items()}
            for name, rate in rates.items():
                print(
                    f"| {label} {args.height}x{args.width} | {info.num_frames} | {keyframes} | {name} | {rate:.1f} | "
                    f"{rate / rates['pyav_all']:.2f}x |"
                )


def _keyframe_interval(path: Path) -> str:
    with av.open(str(path)) as container:
        keys = [i for i, packet in enumerate(container.demux(video=0)) if packet.size and packet.is_keyframe]
    return f"{np.diff(keys).mean():.0f} frames" if len(keys) > 1 else "first frame only"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=3, help="distinct files per length")
    parser.add_argument("--short-frames", type=int, default=48, help="frames of a short clip (SSv2: 2-6 s at 12 fps)")
    parser.add_argument("--long-frames", type=int, default=600, help="frames of a long clip (50 s at 12 fps)")
    parser.add_argument("--height", type=int, default=224)
    parser.add_argument("--width", type=int, default=298)
    parser.add_argument("--window", type=int, default=16, help="frames per window")
    parser.add_argument("--reads", type=int, default=20, help="random windows per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gop", type=int, default=None, help="keyframe interval to encode with (default: libvpx's)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
