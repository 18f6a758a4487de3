"""The files a prediction offers for download: the best clip as mp4 and the result as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["RESULT_FILE", "VIDEO_FILE", "result_record", "write_result"]

#: Names of the downloads in a run's folder.
VIDEO_FILE = "prediction.mp4"
RESULT_FILE = "result.json"


def result_record(output: Any, *, call: dict[str, Any], images: list[str], model: str | None) -> dict[str, Any]:
    """The JSON-ready record of one prediction: what was asked and what came back, best continuation first.

    Args:
        output: the :class:`~foresight_models.pipelines.output.ForesightPipelineOutput` of the call.
        call: the keyword arguments of the pipeline call (sizes, steps, seed, question...).
        images: the names of the context images, in order.
        model: the model's name or folder, if known.
    """
    scores = None if output.scores is None else [None if math.isnan(s) else float(s) for s in output.scores]
    return {
        "model": model,
        "images": images,
        "prompt": output.prompt,
        "question": call["question"],
        "description": output.description,
        "scores": scores,
        "ratings": output.ratings,
        "order": output.order,
        "seed": output.seed,
        "height": call["height"],
        "width": call["width"],
        "num_frames": call["num_frames"],
        "num_inference_steps": call["num_inference_steps"],
        "num_continuations": call["num_continuations"],
        "fps": call["frame_rate"],
        "files": {"video": VIDEO_FILE, "result": RESULT_FILE},
    }


def write_result(folder: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``folder / RESULT_FILE`` (UTF-8, indented); returns the path."""
    path = Path(folder) / RESULT_FILE
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
