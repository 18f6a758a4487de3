"""Latency of ``ForesightPipeline`` against the stock stack, stage by stage: ``pipeline_e2e.py``'s stock
and default ways at the sizes of the earlier runs of this script (121x512x704, 50 steps, 64 tokens).

Each stage is timed directly (``torch.cuda.synchronize`` around it, after a warm-up call with the same
arguments); what each figure contains is written in ``benchmarks/pipeline_e2e.py``. Earlier versions
of this script derived ``prompt_s`` and ``describe_s`` as differences between two runs, which did not
match direct timings. Arguments after the options below go to ``pipeline_e2e.py`` unchanged.

    python benchmarks/pipeline_latency.py                        # GPU, real sizes, 50 steps
    python benchmarks/pipeline_latency.py --tiny --steps 2       # CPU smoke check on tiny components
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pipeline_e2e  # noqa: E402

#: This script's former option names and their ``pipeline_e2e.py`` equivalents.
RENAMED = {"--frames": "--num-frames", "--max-new-tokens": "--new-tokens"}


def arguments(argv: list[str]) -> list[str]:
    """``pipeline_e2e.py`` arguments: ``--tiny`` is ``--preset tiny``; the real preset runs 50 steps;
    ``--no-offload`` is the default now (``--offload model`` adds the CPU-offload measurement)."""
    tiny = "--tiny" in argv
    rest = [RENAMED.get(arg, arg) for arg in argv if arg not in ("--tiny", "--no-offload")]
    defaults = ["--preset", "tiny" if tiny else "real", "--ways", "stock,default", "--continuations", "0"]
    if not tiny and "--steps" not in rest:
        defaults += ["--steps", "50"]
    return defaults + rest


if __name__ == "__main__":
    record = pipeline_e2e.main(arguments(sys.argv[1:]))
    failed = [name for name, check in record["checks"].items() if check.get("passed") is False]
    sys.exit(1 if failed or any("error" in way for way in record["ways"].values()) else 0)
