"""A browser app on a :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline`
(``foresight demo``; needs ``pip install "foresight-models[demo]"``).

- :mod:`.app`: :func:`build_demo`, the Gradio page, and the handler its predict button calls.
- :mod:`.runner`: one prediction as the sequence of what the page shows (no Gradio).
- :mod:`.settings`: the settings a page starts with, fitted to the loaded model.
- :mod:`.images`: reading the uploaded images.
- :mod:`.results`: the files offered for download (mp4, JSON).
- :mod:`.gradio_import`: import Gradio, or say how to install it.

Importing this package does not import Gradio; :func:`build_demo` does.
"""

from __future__ import annotations

from .app import OUTPUTS, build_demo, predict_handler
from .gradio_import import GRADIO_INSTALL_HINT, import_gradio
from .runner import DemoRunner, DemoUpdate
from .settings import DemoSettings

__all__ = [
    "GRADIO_INSTALL_HINT",
    "OUTPUTS",
    "DemoRunner",
    "DemoSettings",
    "DemoUpdate",
    "build_demo",
    "import_gradio",
    "predict_handler",
]
