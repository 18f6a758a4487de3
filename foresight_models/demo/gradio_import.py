"""Gradio is an optional dependency: import it, or say in one line how to install it."""

from __future__ import annotations

from typing import Any

__all__ = ["GRADIO_INSTALL_HINT", "import_gradio"]

#: The one line shown when Gradio is missing.
GRADIO_INSTALL_HINT = 'the demo needs Gradio, which is not installed: pip install "foresight-models[demo]"'


def import_gradio() -> Any:
    """The ``gradio`` module.

    Raises:
        ImportError: Gradio is not installed (the message is :data:`GRADIO_INSTALL_HINT`).
    """
    try:
        import gradio
    except ImportError as error:
        raise ImportError(GRADIO_INSTALL_HINT) from error
    return gradio
