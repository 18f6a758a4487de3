"""Notebook display: the pipeline output plays inline; an EvaluationReport shows its table and curves."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from foresight_models import testing
from foresight_models.evaluation.report import EvaluationReport
from foresight_models.pipelines.display import MAX_SIDE

FAST = dict(height=32, width=32, num_frames=9, num_inference_steps=2)


def embedded_gif(html_text: str) -> Image.Image:
    match = re.search(r'src="data:image/gif;base64,([^"]+)"', html_text)
    assert match, html_text[:200]
    return Image.open(io.BytesIO(base64.b64decode(match.group(1))))


@pytest.mark.parametrize("output_type", ["pil", "pt", "np"])
def test_output_repr_html_plays_the_best_clip_with_its_text(output_type):
    pipe = testing.tiny_pipeline(vlm=False)
    out = pipe(testing.demo_image(64), prompt="the <ball> rolls & stops", seed=0, output_type=output_type, **FAST)
    page = out._repr_html_()
    gif = embedded_gif(page)
    assert gif.n_frames == 9 and gif.size == (32, 32)
    first = torch.from_numpy(np.array(gif.convert("RGB"))).float() / 255
    reference = pipe(testing.demo_image(64), prompt="the <ball> rolls & stops", seed=0, output_type="pt", **FAST)
    # GIF quantises to 256 colours: compare loosely with the first frame
    assert (first.permute(2, 0, 1) - reference.frames[0, 0]).abs().mean() < 0.05
    assert "the &lt;ball&gt; rolls &amp; stops" in page
    assert len(page) < 100_000


def test_output_repr_html_is_small_for_large_clips():
    from foresight_models.pipelines.display import clip_gif

    clip = torch.rand(120, 3, 512, 704, generator=torch.Generator().manual_seed(0))
    gif = Image.open(io.BytesIO(clip_gif(clip)))
    assert max(gif.size) == MAX_SIDE and gif.n_frames <= 48


def test_output_repr_html_shows_description_and_score():
    from foresight_models.pipelines.foresight_pipeline import ForesightPipelineOutput

    frames = [[Image.new("RGB", (32, 32), (i * 20, 0, 0)) for i in range(3)]]
    out = ForesightPipelineOutput(frames, description=["it falls"], prompt="p", scores=[7.0], seed=0, order=[0])
    page = out._repr_html_()
    assert "it falls" in page and "7" in page and embedded_gif(page).n_frames == 3


@pytest.fixture
def report():
    g = torch.Generator().manual_seed(0)
    scores = {
        "copy": {"pixel_l1": torch.rand(8, 2, generator=g) + 0.5},
        "model": {"pixel_l1": torch.rand(8, 2, generator=g)},
    }
    return EvaluationReport(horizon_scores=scores, horizons=[1, 2], higher_is_better={"pixel_l1": False})


def test_report_repr_is_its_table(report):
    text = repr(report)
    assert text.startswith("EvaluationReport(reference='copy', predictors=['copy', 'model'])")
    assert report.table() in text and "tensor(" not in text


def test_report_repr_html_has_the_table_and_an_inline_plot(report):
    pytest.importorskip("matplotlib")
    page = report._repr_html_()
    assert page.count("<tr>") == 2 and "<td>model</td>" in page and "<td>pixel_l1</td>" in page
    png = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(png))).format == "PNG"
