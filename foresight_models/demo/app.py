"""The demo page: :func:`build_demo` lays out a Gradio app around a :class:`DemoRunner`.

The page streams what :meth:`DemoRunner.predict` yields: the motion prompt as the VLM writes it, a
progress bar over the denoising steps, the predicted clip (a video, and a slider to step through its
frames), the description as it is written, a gallery of the continuations ranked by the critic, and
the downloads. An invalid input or a call that cannot run is shown as an error message in the page;
the app keeps serving. Calls go through Gradio's queue and each session keeps its own frames.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .._validation import check_int
from .gradio_import import import_gradio
from .runner import DemoRunner, DemoUpdate
from .settings import DemoSettings

__all__ = ["OUTPUTS", "USER_ERRORS", "build_demo", "predict_handler", "progress_html", "show_frame"]

#: The page's outputs, in the order the handler yields their values.
OUTPUTS = (
    "status",
    "prompt",
    "progress",
    "video",
    "frame_slider",
    "frame",
    "description",
    "gallery",
    "downloads",
    "frames",
)

#: Errors shown in the page as a message (a wrong input, a call that cannot fit, a ``nan`` result);
#: anything else is a bug and keeps its traceback in the server's log.
USER_ERRORS = (ValueError, TypeError, OSError, MemoryError, FloatingPointError)


def progress_html(step: int, total: int) -> str:
    """An HTML progress bar of the denoising steps."""
    if total <= 0:
        return '<progress value="0" max="1"></progress> denoising: not started'
    return f'<progress value="{step}" max="{total}"></progress> denoising: step {step} of {total}'


def show_frame(index: Any, frames: list[Any] | None) -> Any:
    """The frame at ``index`` of the clip shown (``None`` before a prediction or out of range)."""
    if not frames or index is None or not 0 <= int(index) < len(frames):
        return None
    return frames[int(index)]


def predict_handler(runner: DemoRunner) -> Callable[..., Iterator[tuple]]:
    """The function the page's predict button calls: a generator of the values of :data:`OUTPUTS`.

    Its arguments are the page's inputs: ``(images, prompt, question, height, width, num_frames, steps,
    continuations, seed)``. A value that has not changed since the previous yield is sent as an empty
    ``gr.update()`` so that the browser does not reload the video at every piece of text. An error of
    :data:`USER_ERRORS` is raised as ``gr.Error`` with its message.
    """
    gr = import_gradio()

    def predict(images, prompt, question, height, width, num_frames, steps, continuations, seed):
        updates = runner.predict(
            images,
            prompt,
            question,
            height=height,
            width=width,
            num_frames=num_frames,
            steps=steps,
            continuations=continuations,
            seed=seed,
        )
        previous = None
        try:
            for update in updates:
                yield _page_values(gr, update, previous)
                previous = update
        except USER_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from error

    return predict


def _page_values(gr: Any, update: DemoUpdate, previous: DemoUpdate | None) -> tuple:
    """The values of :data:`OUTPUTS` for ``update``; all of them for the first update of a call (which
    clears the previous call's results), then only what changed."""

    def unless_same(new: Any, old: Any, value: Any) -> Any:
        same = previous is not None and (new is old or (isinstance(new, str) and new == old))
        return gr.update() if same else value

    old = previous if previous is not None else DemoUpdate(stage="", status="")
    if update.frames is not None and update.frames is not old.frames:
        slider = gr.update(maximum=len(update.frames) - 1, value=0, interactive=True)
        frame, frames = update.frames[0], update.frames
    elif previous is None:  # no clip yet
        slider, frame, frames = gr.update(maximum=1, value=0, interactive=False), None, None
    else:
        slider = frame = frames = gr.update()
    return (
        update.status,
        unless_same(update.prompt, old.prompt, update.prompt),
        progress_html(update.step, update.total),
        unless_same(update.video, old.video, update.video),
        slider,
        frame,
        unless_same(update.description, old.description, update.description),
        unless_same(update.gallery, old.gallery, list(update.gallery)),
        unless_same(update.files, old.files, list(update.files) or None),
        frames,
    )


def _default_examples(pipe: Any) -> tuple[list[Any], list[str]]:
    """foresight-tiny gets two frames of a held-out ``SyntheticMotion`` clip (the scenes it knows); other
    models get the ramp scene of :func:`~foresight_models.testing.demo_image`."""
    from ..foresight_tiny import foresight_tiny_clips, is_foresight_tiny

    if is_foresight_tiny(pipe):
        from ..inputs import to_pil_images

        return [to_pil_images(foresight_tiny_clips(1, seed=2026)[0]["context"])], ["held-out clip"]
    from ..testing import demo_image

    return [demo_image(128)], ["scene"]


def _example_files(examples: Sequence[Any], names: Sequence[str], folder: Path) -> list[list[str]]:
    """The examples as PNG files in ``folder`` (Gradio serves files from the temporary folder): one list of
    files per example (an example is one image, or a list of context images)."""
    from PIL import Image

    groups = []
    for number, (example, name) in enumerate(zip(examples, names)):
        images = list(example) if isinstance(example, (list, tuple)) else [example]
        paths = []
        for index, image in enumerate(images):
            # one folder per example: the page shows the files' names
            path = folder / str(number) / (f"{name}.png" if len(images) == 1 else f"{name} {index + 1}.png")
            path.parent.mkdir(exist_ok=True)
            if isinstance(image, Image.Image):
                image.convert("RGB").save(path)
            elif isinstance(image, (str, Path)):
                with Image.open(image) as opened:
                    opened.convert("RGB").save(path)
            else:
                raise TypeError(
                    f"examples: expected image file paths or PIL images (or lists of them), got {type(image).__name__}"
                )
            paths.append(str(path))
        groups.append(paths)
    return groups


def build_demo(
    pipe: Any,
    *,
    examples: Sequence[Any] | None = None,
    settings: DemoSettings | None = None,
    model: str | None = None,
    title: str = "Foresight: what happens next?",
    concurrency_limit: int = 1,
) -> Any:
    """A Gradio app that predicts what happens next after the images a user uploads.

    Args:
        pipe: a :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline`, placed on its device.
        examples: examples to offer, each an image file or PIL image, or a list of them (several context
            images); default: for foresight-tiny two frames of a held-out clip, else the ramp scene of
            :func:`~foresight_models.testing.demo_image`.
        settings: the page's initial settings (default: :meth:`DemoSettings.for_pipeline`, fitted to ``pipe``).
        model: the model's name or folder, recorded in the downloaded ``result.json``.
        title: the page's title.
        concurrency_limit: predictions run at once; further users wait in Gradio's queue.

    Returns:
        A ``gradio.Blocks`` with its queue set up: ``build_demo(pipe).launch()`` serves it.

    Raises:
        ImportError: Gradio is not installed (``pip install "foresight-models[demo]"``).
    """
    gr = import_gradio()
    check_int(concurrency_limit, "concurrency_limit")
    settings = DemoSettings.for_pipeline(pipe) if settings is None else settings
    if not isinstance(settings, DemoSettings):
        raise TypeError(f"settings: expected a DemoSettings or None, got {type(settings).__name__}")
    work_dir = Path(tempfile.mkdtemp(prefix="foresight-demo-"))
    example_dir = work_dir / "examples"
    example_dir.mkdir()
    if examples is None:
        examples, names = _default_examples(pipe)
    else:
        names = [Path(e).stem if isinstance(e, (str, Path)) else f"example_{n + 1}" for n, e in enumerate(examples)]
    example_paths = _example_files(examples, names, example_dir)
    runner = DemoRunner(pipe, settings=settings, work_dir=work_dir / "runs", model=model)

    # offline first: no usage analytics sent to Gradio's servers
    with gr.Blocks(title=title, delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nUpload one or several images of a scene (the last one is the frame the video "
            "continues), or pick an example, and press **Predict**: the model writes a motion prompt, "
            "generates the next frames and says what happens."
        )
        frames = gr.State(None)
        with gr.Row():
            with gr.Column():
                images = gr.File(
                    label="images (the last one is continued)",
                    file_count="multiple",
                    file_types=["image"],
                    elem_id="images",
                )
                gr.Examples(examples=[[paths] for paths in example_paths], inputs=[images], cache_examples=False)
                prompt = gr.Textbox(label="motion prompt (empty: the VLM writes it)", elem_id="prompt-input")
                question = gr.Textbox(label="question about the clip", value=settings.question, elem_id="question")
                with gr.Accordion("settings", open=False):
                    with gr.Row():
                        height = gr.Number(settings.height, label="height (multiple of 32)", precision=0)
                        width = gr.Number(settings.width, label="width (multiple of 32)", precision=0)
                    with gr.Row():
                        num_frames = gr.Number(
                            settings.num_frames, label="frames (8k + 1)", precision=0, elem_id="num-frames"
                        )
                        steps = gr.Number(settings.steps, label="denoising steps", precision=0)
                    with gr.Row():
                        continuations = gr.Number(settings.continuations, label="continuations", precision=0)
                        seed = gr.Number(settings.seed, label="seed", precision=0)
                button = gr.Button("Predict", variant="primary", elem_id="predict")
            with gr.Column():
                status = gr.Textbox(label="status", interactive=False, elem_id="status")
                motion = gr.Textbox(label="motion prompt", interactive=False, elem_id="motion-prompt")
                progress = gr.HTML(progress_html(0, 0), elem_id="progress")
                video = gr.Video(label="predicted clip", interactive=False, autoplay=True, loop=True, elem_id="video")
                frame_slider = gr.Slider(
                    0, 1, value=0, step=1, label="frame", interactive=False, elem_id="frame-slider"
                )
                frame = gr.Image(label="frame", type="pil", interactive=False, elem_id="frame")
                description = gr.Textbox(label="what happens next", interactive=False, lines=3, elem_id="description")
                gallery = gr.Gallery(label="continuations, best first", columns=4, elem_id="gallery")
                downloads = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id="downloads")
        outputs = dict(
            status=status,
            prompt=motion,
            progress=progress,
            video=video,
            frame_slider=frame_slider,
            frame=frame,
            description=description,
            gallery=gallery,
            downloads=downloads,
            frames=frames,
        )
        button.click(
            predict_handler(runner),
            inputs=[images, prompt, question, height, width, num_frames, steps, continuations, seed],
            outputs=[outputs[name] for name in OUTPUTS],
            concurrency_limit=concurrency_limit,
            api_name="predict",
        )
        frame_slider.input(show_frame, inputs=[frame_slider, frames], outputs=frame, queue=False)
    demo.queue(default_concurrency_limit=concurrency_limit)
    weakref.finalize(demo, shutil.rmtree, work_dir, ignore_errors=True)
    return demo
