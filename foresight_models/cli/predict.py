"""``foresight predict``: predict what happens next after one or more images, write the video and its description.

Writes into ``--out``: ``prediction.mp4`` (the best continuation), ``contact_sheet.png`` (one row of
frames per continuation, best first), ``description.txt`` and ``result.json`` (prompt, question,
descriptions, scores, seed, sizes, files). With ``--continuations N > 1`` the other clips are
written as ``continuation_<rank>.mp4``.

``--out`` always holds one complete run: the files are written into a temporary folder next to it
(``.<name>.partial-*``) and moved into place only when all of them are written. An existing
non-empty ``--out`` is refused unless ``--overwrite`` is given, which replaces it whole; if the new
run fails or is interrupted, the previous one stays as it was.

Every argument is checked before the model is loaded; a mistake prints one line
``foresight predict: error: ...`` and exits with status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validation import check_int, check_real
from ..pipelines.named import NAMED_PIPELINES, call_defaults, load_pipeline, model_kind

__all__ = ["Settings", "add_arguments", "check_arguments", "check_memory", "estimate_memory_bytes", "run"]


#: Errors that mean the command was used wrongly (bad argument, missing file, unloadable model folder):
#: reported on one line with exit status 2. Anything else is a bug and keeps its traceback.
_USAGE_ERRORS = (ValueError, TypeError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image",
        action="append",
        required=True,
        metavar="PATH",
        help="context image; repeat for several (the last one is the frame the video continues)",
    )
    parser.add_argument("--prompt", default=None, help="motion prompt (default: the VLM writes it from the images)")
    parser.add_argument("--question", default="What happens next?", help="what the VLM is asked about the video")
    parser.add_argument(
        "--model",
        default="tiny",
        help=f"a ForesightPipeline folder or Hub id, or one of {', '.join(NAMED_PIPELINES)} (offline; default: tiny)",
    )
    parser.add_argument(
        "--video-model",
        default=None,
        metavar="DIR|ID",
        help="assemble the pipeline from an LTX-Video diffusers checkpoint (folder in the Hub layout, or Hub id) "
        "instead of --model",
    )
    parser.add_argument(
        "--vlm",
        default=None,
        metavar="DIR|ID",
        help="with --video-model: a Qwen2.5-VL checkpoint (folder or Hub id); without it there is no VLM and "
        "--prompt is required",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing non-empty --out whole (refused without it)"
    )
    parser.add_argument("--height", type=int, default=None, help="video height, multiple of 32")
    parser.add_argument("--width", type=int, default=None, help="video width, multiple of 32")
    parser.add_argument("--num-frames", type=int, default=None, help="video frames, 8k + 1")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps")
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="classifier-free guidance scale (default: 3.0)",
    )
    parser.add_argument("--continuations", type=int, default=1, help="futures to generate and rank (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed, in [0, 2**64)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="VLM tokens per answer")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the written video")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="weights dtype")
    parser.add_argument("--cpu-offload", action="store_true", help="enable model CPU offload (needs an accelerator)")
    parser.add_argument("--local-files-only", action="store_true", help="never download (implied for 'tiny')")
    parser.add_argument(
        "--no-memory-check",
        action="store_true",
        help="skip the estimate that refuses sizes whose video would not fit in the available memory",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of every error")


# --------------------------------------------------------------------------- checks before loading


@dataclass(frozen=True)
class Settings:
    """The checked values of one ``foresight predict`` call (defaults filled in for the model kind)."""

    height: int
    width: int
    num_frames: int
    steps: int
    max_new_tokens: int
    continuations: int
    seed: int
    guidance_scale: float
    fps: float  # the rate the video files store (see ``foresight_models.data.frame_rate``)
    device: str
    out: Path


def estimate_memory_bytes(*, num_continuations: int, num_frames: int, height: int, width: int) -> int:
    """A lower bound of the memory one call needs, in bytes: the decoded videos, with headroom.

    The decoded float32 videos take ``num_continuations * num_frames * 3 * height * width * 4`` bytes;
    the VAE's activations while decoding them and the uint8 / PIL copies made for writing need at
    least as much again several times over, hence the factor 4. Weights are not counted, so a call
    this estimate allows can still run out of memory; one it refuses would certainly not fit.
    """
    return 4 * num_continuations * num_frames * 3 * height * width * 4


def check_memory(
    *, num_continuations: int, num_frames: int, height: int, width: int, available: int | None = None
) -> None:
    """Refuse a call whose :func:`estimate_memory_bytes` exceeds ``available`` (default: the memory free now).

    Raises:
        ValueError: the estimate does not fit (the message names the flags that set the size).
    """
    if available is None:
        import torch

        from ..pipelines.memory import available_memory

        available = available_memory(torch.device("cpu"))
    needed = estimate_memory_bytes(num_continuations=num_continuations, num_frames=num_frames, height=height, width=width)
    if available is not None and needed > available:
        raise ValueError(
            f"--height {height} --width {width} --num-frames {num_frames} --continuations {num_continuations}: the "
            f"videos alone need an estimated {needed / 2**30:.1f} GiB but {available / 2**30:.1f} GiB of memory is "
            "available; lower these values, or pass --no-memory-check to try anyway"
        )


def _check_images(paths: list[str]) -> list[Any]:
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        if os.path.isdir(path):
            raise IsADirectoryError(f"--image: {path!r} is a directory; expected an image file (png, jpg, ...)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--image: no such file: {path!r}")
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"--image: {path!r} is not an image file Pillow can read ({error})") from error
    return images


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"--out: {str(out)!r} already holds files (an earlier run?); pass --overwrite to replace it whole, "
            "or choose another folder"
        )
    parent = out.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"--out: {str(parent)!r} is not a folder")


def _check_model(model: str) -> None:
    if model in NAMED_PIPELINES:
        return
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise FileNotFoundError(f"--model: {model!r} is not a ForesightPipeline folder (it has no model_index.json)")
        class_name = _pipeline_class(path)
        if class_name != "ForesightPipeline":
            raise ValueError(
                f"--model: {model!r} holds a {class_name}, not a ForesightPipeline; to build one from it, pass "
                f"--video-model {model} (and --vlm <Qwen2.5-VL folder or id>, or --prompt)"
            )
    elif model.startswith(("/", ".", "~")) or model.endswith("/") or model.count("/") > 1:
        raise FileNotFoundError(f"--model: no such folder: {model!r} (a Hub id looks like 'organisation/name')")


def _pipeline_class(folder: Path) -> str:
    import json

    try:
        return str(json.loads((folder / "model_index.json").read_text()).get("_class_name"))
    except (OSError, ValueError, AttributeError):
        return "unreadable model_index.json"


def _check_components(args: argparse.Namespace) -> None:
    """``--video-model`` / ``--vlm``: folders in the Hub layout or Hub ids, and not mixed with ``--model``."""
    if args.video_model is None:
        if args.vlm is not None:
            raise ValueError("--vlm: only used with --video-model (a --model folder brings its own VLM)")
        return
    if args.model != "tiny":
        raise ValueError(f"--video-model: pass either --model or --video-model, not both (got --model {args.model!r})")
    for flag, name, marker in (("--video-model", args.video_model, "model_index.json"), ("--vlm", args.vlm, "config.json")):
        if name is None:
            continue
        path = Path(name).expanduser()
        if path.exists():
            if not (path / marker).is_file():
                raise FileNotFoundError(f"{flag}: {name!r} is not a checkpoint folder in the Hub layout (no {marker})")
        elif name.startswith(("/", ".", "~")) or name.endswith("/") or name.count("/") != 1:
            raise FileNotFoundError(f"{flag}: no such folder: {name!r} (a Hub id looks like 'organisation/name')")


def _check_device(device: str | None, cpu_offload: bool) -> str:
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"--device: {device!r} is not a torch device ({error})") from error
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {device!r} asks for CUDA, which this torch cannot use")
    if cpu_offload and kind == "cpu":
        raise ValueError("--cpu-offload: moves weights between the CPU and an accelerator; pass --device cuda (or mps)")
    return device


def check_arguments(args: argparse.Namespace) -> tuple[Settings, list[Any]]:
    """Check every argument of ``foresight predict`` without loading the model.

    Returns:
        The checked :class:`Settings` and the context images (RGB PIL images).

    Raises:
        ValueError, TypeError, OSError (``FileNotFoundError``, ``IsADirectoryError``, ...): a wrong
        argument; the message starts with the flag.
    """
    from ..data.video import frame_rate

    defaults = call_defaults(model_kind(args.model) if args.video_model is None else "real")

    def value(name: str) -> Any:
        given = getattr(args, name)
        return defaults[name] if given is None else given

    height, width = value("height"), value("width")
    for flag, side in (("--height", height), ("--width", width)):
        check_int(side, flag, minimum=32)
        if side % 32:
            raise ValueError(f"{flag}: LTX-Video needs a multiple of 32, got {side}")
    num_frames = check_int(value("num_frames"), "--num-frames")
    if num_frames % 8 != 1:
        raise ValueError(f"--num-frames: LTX-Video needs 8k + 1 frames (9, 17, ..., 121, ...), got {num_frames}")
    settings = Settings(
        height=height,
        width=width,
        num_frames=num_frames,
        steps=check_int(value("steps"), "--steps"),
        max_new_tokens=check_int(value("max_new_tokens"), "--max-new-tokens"),
        continuations=check_int(args.continuations, "--continuations"),
        seed=check_int(args.seed, "--seed", minimum=0, maximum=2**64 - 1),
        guidance_scale=check_real(value("guidance_scale"), "--guidance-scale", minimum=0.0),
        fps=float(frame_rate(args.fps, name="--fps")),
        device=_check_device(args.device, args.cpu_offload),
        out=Path(args.out),
    )
    images = _check_images(args.image)
    _check_out(settings.out, args.overwrite)
    _check_model(args.model)
    _check_components(args)
    if not args.no_memory_check:
        check_memory(num_continuations=settings.continuations, num_frames=num_frames, height=height, width=width)
    return settings, images


# --------------------------------------------------------------------------- one complete run in --out


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders' names, atomically where the system can (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if os.name == "posix" else None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(b))
    # Without an atomic exchange both folders stay complete at every moment, under one name or another.
    spare = Path(tempfile.mkdtemp(prefix=f".{b.name}.previous-", dir=b.parent))
    spare.rmdir()
    os.rename(b, spare)
    os.rename(a, b)
    os.rename(spare, a)


@contextlib.contextmanager
def _staged_run(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder next to ``out``; on success it becomes ``out``, on any failure it is removed."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        _check_out(out, overwrite)  # again: another process may have written there meanwhile
        if out.is_dir() and any(out.iterdir()):
            _exchange(staging, out)  # staging now holds the previous run, removed below
        else:
            os.replace(staging, out)  # replaces a missing or empty folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit`` while the run is written, so that its clean-up runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- the command


def _contact_sheet(clips: list[list[Any]], max_columns: int = 9) -> Any:
    """One row per clip of at most ``max_columns`` evenly spaced frames."""
    from PIL import Image

    columns = min(max_columns, len(clips[0]))
    w, h = clips[0][0].size
    sheet = Image.new("RGB", (columns * w, len(clips) * h), (0, 0, 0))
    for row, frames in enumerate(clips):
        picks = [round(i * (len(frames) - 1) / max(columns - 1, 1)) for i in range(columns)]
        for column, index in enumerate(picks):
            sheet.paste(frames[index], (column * w, row * h))
    return sheet


def _load_pipeline(args: argparse.Namespace, device: str) -> Any:
    import torch

    from ..pipelines import ForesightPipeline

    dtype = getattr(torch, args.dtype) if args.dtype else None
    if args.video_model is not None:
        pipe = ForesightPipeline.from_components(
            _expand(args.video_model), vlm=_expand(args.vlm), torch_dtype=dtype, local_files_only=args.local_files_only
        )
        return _place(pipe, args, device)
    pipe = load_pipeline(args.model, torch_dtype=dtype, local_files_only=args.local_files_only)
    return _place(pipe, args, device)


def _expand(name: str | None) -> str | None:
    """A local path with ``~`` expanded; a Hub id as given."""
    if name is None:
        return None
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


def _place(pipe: Any, args: argparse.Namespace, device: str) -> Any:
    if args.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(args: argparse.Namespace) -> int:
    try:
        settings, images = check_arguments(args)
    except _USAGE_ERRORS as error:
        return _usage_error(args, error)
    start = time.perf_counter()
    try:
        pipe = _load_pipeline(args, settings.device)
    except _USAGE_ERRORS as error:
        if args.debug:
            raise
        return _usage_error(args, _load_error(args, error))
    call = _call_arguments(args, settings)
    try:  # the pipeline's own checks, which know its components (and its memory estimate)
        pipe.check_inputs(images, **call)
    except (*_USAGE_ERRORS, MemoryError) as error:
        return _usage_error(args, error)
    result = _generate(args, pipe, images, call)
    try:
        with _sigterm_raises(), _staged_run(settings.out, args.overwrite) as staging:
            description = _write_run(args, settings, result, staging, seconds=time.perf_counter() - start)
    except OSError as error:  # disk full, permissions, another run that took --out meanwhile
        return _usage_error(args, error, prefix="--out: the run was not written: ")
    print(f"prediction written to {settings.out} (prompt: {result.prompt!r})")
    print(f"description: {description}")
    return 0


def _load_error(args: argparse.Namespace, error: BaseException) -> str:
    """One line saying which checkpoint did not load and what to do about it."""
    flag, name = ("--video-model", args.video_model) if args.video_model is not None else ("--model", args.model)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, OSError) and not Path(name).expanduser().exists():
        hint = "it is not in the local Hugging Face cache and could not be downloaded"
        if args.local_files_only:
            hint = "it is not in the local Hugging Face cache (--local-files-only)"
        return (
            f"{flag}: cannot load {name!r}: {hint}; download it first (`hf download <id>` for each checkpoint) or "
            f"pass local folders ({type(error).__name__}: {first_line})"
        )
    return f"{flag}: cannot load {name!r}: {first_line}"


def _usage_error(args: argparse.Namespace, error: BaseException | str, prefix: str = "") -> int:
    if args.debug and isinstance(error, BaseException):
        raise error
    print(f"foresight predict: error: {prefix}{error}", file=sys.stderr)
    return 2


def _call_arguments(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The keyword arguments of the pipeline call this command makes (besides the images)."""
    return dict(
        prompt=args.prompt,
        question=args.question,
        height=settings.height,
        width=settings.width,
        num_frames=settings.num_frames,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance_scale,
        num_continuations=settings.continuations,
        seed=settings.seed,
        max_new_tokens=settings.max_new_tokens,
        output_type="pil",
        check_memory=not args.no_memory_check,
    )


def _generate(args: argparse.Namespace, pipe: Any, images: list[Any], call: dict[str, Any]) -> Any:
    from tqdm.auto import tqdm

    from ..pipelines.events import Done, Progress, TextDelta

    bars: dict[str, Any] = {}

    def bar(key: str, **kwargs: Any) -> Any:
        if key not in bars:
            bars[key] = tqdm(disable=args.quiet, file=sys.stderr, leave=True, **kwargs)
        return bars[key]

    result = None
    try:
        for event in pipe.stream(images, **call):
            if isinstance(event, TextDelta):
                label = event.stage if event.index is None else f"{event.stage} {event.index}"
                bar(label, desc=label, unit="piece").update(1)
            elif isinstance(event, Progress):
                bar("denoise", desc="denoising", total=event.total, unit="step").update(1)
            elif isinstance(event, Done):
                result = event.output
    finally:
        for progress in bars.values():
            progress.close()
    return result


def _write_run(args: argparse.Namespace, settings: Settings, result: Any, folder: Path, *, seconds: float) -> str:
    """Write the run's files into ``folder``; returns the best continuation's description."""
    from ..data.video import write_video

    files = {"video": "prediction.mp4", "contact_sheet": "contact_sheet.png", "description": "description.txt"}
    write_video(result.frames[0], folder / files["video"], settings.fps)
    for rank, clip in enumerate(result.frames[1:], start=1):
        name = f"continuation_{rank}.mp4"
        write_video(clip, folder / name, settings.fps)
        files[f"continuation_{rank}"] = name
    _contact_sheet(result.frames).save(folder / files["contact_sheet"])
    description = result.description[0] if result.description else ""
    (folder / files["description"]).write_text(description + "\n", encoding="utf-8")
    record = {
        "model": args.model,
        "images": [os.path.abspath(path) for path in args.image],
        "prompt": result.prompt,
        "question": args.question,
        "description": result.description,
        "scores": None if result.scores is None else [None if math.isnan(s) else s for s in result.scores],
        "ratings": result.ratings,
        "order": result.order,
        "seed": result.seed,
        "height": settings.height,
        "width": settings.width,
        "num_frames": settings.num_frames,
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "fps": settings.fps,
        "device": settings.device,
        "seconds": round(seconds, 3),
        "files": {**files, "result": "result.json"},
    }
    (folder / "result.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return description
