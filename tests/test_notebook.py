"""examples/foresight_quickstart.ipynb is kept without outputs and runs top to bottom, showing the
predicted clip inline (an embedded H.264 video) with its description."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "foresight_quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip the notebook's outputs before committing"


def test_notebook_runs_and_shows_the_clip(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import NoSuchKernel

    from foresight_models.data.video import read_video

    root = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except NoSuchKernel as error:
        pytest.skip(f"no Jupyter kernel is installed: {error} (pip install ipykernel)")
    except RuntimeError as error:  # jupyter_client's words when a kernel process cannot start
        if not any(words in str(error) for words in ("Kernel died before replying", "Kernel didn't respond")):
            raise
        pytest.skip(f"no Jupyter kernel can start here: {error}")

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    match = re.search(r'<video[^>]*>\s*<source src="data:video/mp4;base64,([^"]+)"', html)
    assert match, "the clip is not shown inline as an embedded video"
    video = tmp_path / "shown.mp4"
    video.write_bytes(base64.b64decode(match.group(1)))
    assert tuple(read_video(video).shape) == (17, 3, 128, 128)
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert markdown.startswith("**Description:**") and len(markdown) > len("**Description:** ''")
    assert any(o.get("data", {}).get("image/png") for o in outputs), "the context image is not shown"
