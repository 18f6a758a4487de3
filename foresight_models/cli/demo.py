"""``foresight demo``: serve a browser app on a pipeline (upload images, watch the prediction stream in).

Needs Gradio (``pip install "foresight-models[demo]"``); without it the command prints that one line
and exits with status 2, before loading anything. ``--model`` is resolved as by ``foresight predict``
(:func:`foresight_models.pipelines.named.load_pipeline`). The page is served at
``http://HOST:PORT`` until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._validation import check_int
from ..pipelines.named import NAMED_PIPELINES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="tiny",
        help=f"a ForesightPipeline folder or Hub id, or one of {', '.join(NAMED_PIPELINES)} (offline; default: tiny)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="weights dtype")
    parser.add_argument("--local-files-only", action="store_true", help="never download (implied for tiny models)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="predictions run at once; further users wait in the queue"
    )


def _error(message: Any) -> int:
    print(f"foresight demo: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from ..demo.gradio_import import import_gradio

    try:
        import_gradio()
    except ImportError as error:
        return _error(error)
    try:
        check_int(args.port, "--port", minimum=0, maximum=65535)
        check_int(args.concurrency, "--concurrency")
        pipe = _load(args)
    except (ValueError, TypeError, OSError) as error:
        return _error(error)

    from ..demo import build_demo

    demo = build_demo(pipe, model=args.model, concurrency_limit=args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True)
    return 0


def _load(args: argparse.Namespace) -> Any:
    import torch

    from ..pipelines.named import load_pipeline

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"--device: {device!r} is not a torch device ({error})") from error
    dtype = getattr(torch, args.dtype) if args.dtype else None
    try:
        pipe = load_pipeline(args.model, torch_dtype=dtype, local_files_only=args.local_files_only)
    except (ValueError, TypeError, OSError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OSError(f"--model: cannot load {args.model!r}: {first_line}") from error
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe
