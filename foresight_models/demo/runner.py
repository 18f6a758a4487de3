"""One prediction of the demo page, as the sequence of what the page shows (no Gradio here).

:meth:`DemoRunner.predict` drives :meth:`ForesightPipeline.stream` and yields a :class:`DemoUpdate` per
event: the motion prompt as the VLM writes it, each denoising step, the decoded clip (written as mp4),
the description as it is written, and last the ranked result with its downloads. Each call writes into
its own folder, so concurrent calls never share a file.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._validation import check_int
from ..data.video import write_video
from ..pipelines.events import Description, Done, Frames, Progress, TextDelta
from .images import read_images
from .results import VIDEO_FILE, result_record, write_result
from .settings import DemoSettings

__all__ = ["STAGES", "DemoRunner", "DemoUpdate"]

#: The stages of a prediction, in the order they happen (``"prompt"`` only when the VLM writes it).
STAGES = ("prompt", "denoising", "frames", "description", "rating", "done")


@dataclass(frozen=True)
class DemoUpdate:
    """What the page shows after one event of a prediction.

    Args:
        stage: one of :data:`STAGES`: what the event was.
        status: one line for the status box.
        prompt: the motion prompt so far (streamed when the VLM writes it).
        step, total: denoising steps finished, of ``total`` (0 before denoising starts).
        description: the description text so far; when done, best continuation first.
        video: the mp4 of the clip shown: the first decoded one, then the best.
        frames: that clip's frames (PIL images), for the frame slider.
        gallery: when done with several continuations: ``(last frame, caption)`` per clip, best first.
        files: when done: the downloads, ``prediction.mp4`` and ``result.json``.
    """

    stage: str
    status: str
    prompt: str = ""
    step: int = 0
    total: int = 0
    description: str = ""
    video: str | None = None
    frames: list[Any] | None = None
    gallery: tuple[tuple[Any, str], ...] = ()
    files: tuple[str, ...] = ()


def _whole_number(value: Any, name: str, default: int) -> int:
    """A page's number field as an int: ``None`` is the default; ``3.0`` is 3; ``3.5`` is refused."""
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return check_int(value, name, minimum=None)  # ranges: the pipeline's own checks, which know its model


def _describe(texts: dict[int, str], num_continuations: int) -> str:
    if num_continuations == 1:
        return texts.get(0, "")
    return "\n".join(f"continuation {i + 1}: {texts[i]}" for i in sorted(texts))


def _ranked_description(output: Any) -> str:
    descriptions = output.description or []
    if len(descriptions) <= 1:
        return descriptions[0] if descriptions else ""
    return "\n".join(f"#{rank + 1}{_score(output, rank)}: {text}" for rank, text in enumerate(descriptions))


def _score(output: Any, rank: int) -> str:
    if output.scores is None or math.isnan(output.scores[rank]):
        return ""
    return f" (score {output.scores[rank]:.1f})"


class DemoRunner:
    """Runs the predictions of a demo page on one pipeline.

    Args:
        pipe: a :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline` (thread-safe per call).
        settings: the values used for a setting the page leaves empty.
        work_dir: where each call writes its folder of files (``run-*``).
        model: the model's name or folder, recorded in ``result.json``.
        keep_seconds: a call removes the run folders older than this.
    """

    def __init__(
        self,
        pipe: Any,
        *,
        settings: DemoSettings,
        work_dir: str | Path,
        model: str | None = None,
        keep_seconds: float = 3600.0,
    ):
        self.pipe = pipe
        self.settings = settings
        self.work_dir = Path(work_dir)
        self.model = model
        self.keep_seconds = keep_seconds

    def call_arguments(
        self,
        *,
        prompt: str | None = None,
        question: str | None = None,
        height: Any = None,
        width: Any = None,
        num_frames: Any = None,
        steps: Any = None,
        continuations: Any = None,
        seed: Any = None,
    ) -> dict[str, Any]:
        """The pipeline call's keyword arguments: an empty prompt lets the VLM write it, an empty
        question or setting takes :attr:`settings`' value."""
        s = self.settings
        return dict(
            prompt=(prompt.strip() or None) if isinstance(prompt, str) else prompt,
            question=(question.strip() or s.question) if isinstance(question, str) else (question or s.question),
            height=_whole_number(height, "height", s.height),
            width=_whole_number(width, "width", s.width),
            num_frames=_whole_number(num_frames, "num_frames", s.num_frames),
            num_inference_steps=_whole_number(steps, "num_inference_steps", s.steps),
            num_continuations=_whole_number(continuations, "num_continuations", s.continuations),
            seed=_whole_number(seed, "seed", s.seed),
            max_new_tokens=s.max_new_tokens,
            guidance_scale=s.guidance_scale,
            frame_rate=s.fps,
            output_type="pil",
        )

    def predict(
        self, images: Sequence[Any] | None, prompt: str | None = None, question: str | None = None, **settings: Any
    ) -> Iterator[DemoUpdate]:
        """Predict what happens after ``images`` and yield the page after each event.

        Args:
            images: file paths or PIL images; the last one is the frame the video continues.
            prompt: the motion prompt (empty or ``None``: the VLM writes it).
            question: what the VLM is asked about the clip (empty or ``None``: the settings' question).
            **settings: ``height``, ``width``, ``num_frames``, ``steps``, ``continuations``, ``seed``
                (``None``: the settings' value).

        Raises:
            ValueError, TypeError: an invalid image or setting (the message names it), before any model runs.
            MemoryError: the call cannot fit in memory.
        """
        context = read_images(images)
        call = self.call_arguments(prompt=prompt, question=question, **settings)
        self.pipe.check_inputs(context, **call)
        names = [
            os.path.basename(os.fspath(i)) if isinstance(i, (str, Path)) else f"image_{n}" for n, i in enumerate(images)
        ]
        folder = self._new_run_folder()
        yield from self._run(context, call, names, folder)

    def _run(self, context: list[Any], call: dict[str, Any], names: list[str], folder: Path) -> Iterator[DemoUpdate]:
        start = time.perf_counter()
        n = call["num_continuations"]
        page = DemoUpdate(stage="prompt", status="writing the motion prompt", prompt=call["prompt"] or "")
        texts: dict[int, str] = {}
        clips: dict[int, Path] = {}
        with self.pipe.stream(context, **call) as stream:
            for event in stream:
                if isinstance(event, TextDelta) and event.stage == "prompt":
                    page = replace(page, stage="prompt", prompt=page.prompt + event.text)
                elif isinstance(event, TextDelta) and event.stage == "description":
                    texts[event.index] = texts.get(event.index, "") + event.text
                    status = f"describing continuation {event.index + 1} of {n}"
                    page = replace(page, stage="description", status=status, description=_describe(texts, n))
                elif isinstance(event, TextDelta):
                    page = replace(page, stage="rating", status=f"rating continuation {event.index + 1} of {n}")
                elif isinstance(event, Progress):
                    status = f"denoising: step {event.step} of {event.total}"
                    page = replace(page, stage="denoising", status=status, step=event.step, total=event.total)
                elif isinstance(event, Frames):
                    clips[event.index] = write_video(
                        event.frames, folder / f"continuation_{event.index}.mp4", call["frame_rate"]
                    )
                    page = replace(page, stage="frames", status=f"decoded continuation {event.index + 1} of {n}")
                    if event.index == 0:
                        page = replace(page, video=str(clips[0]), frames=list(event.frames))
                elif isinstance(event, Description):
                    texts[event.index] = event.text
                    status = f"described continuation {event.index + 1} of {n}"
                    page = replace(page, stage="description", status=status, description=_describe(texts, n))
                elif isinstance(event, Done):
                    yield self._finish(page, event.output, call, names, folder, clips, time.perf_counter() - start)
                    return
                yield page

    def _finish(
        self,
        page: DemoUpdate,
        output: Any,
        call: dict[str, Any],
        names: list[str],
        folder: Path,
        clips: dict[int, Path],
        seconds: float,
    ) -> DemoUpdate:
        video = folder / VIDEO_FILE
        shutil.copyfile(clips[output.order[0]], video)
        record = result_record(output, call=call, images=names, model=self.model)
        result = write_result(folder, record)
        gallery: tuple[tuple[Any, str], ...] = ()
        if len(output.frames) > 1:
            descriptions = output.description or [""] * len(output.frames)
            gallery = tuple(
                (clip[-1], f"#{rank + 1}{_score(output, rank)}: {descriptions[rank]}")
                for rank, clip in enumerate(output.frames)
            )
        return replace(
            page,
            stage="done",
            status=f"done in {seconds:.1f} s (seed {output.seed})",
            prompt=output.prompt,
            description=_ranked_description(output),
            video=str(video),
            frames=list(output.frames[0]),
            gallery=gallery,
            files=(str(video), str(result)),
        )

    def _new_run_folder(self) -> Path:
        """A fresh folder for one call; run folders older than ``keep_seconds`` are removed first."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self.work_dir.glob("run-*"):
            try:
                if now - old.stat().st_mtime > self.keep_seconds:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:  # removed meanwhile by another call
                pass
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.work_dir))
