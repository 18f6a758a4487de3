"""Reading the context images a page sends: uploaded files or picked examples."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["read_images"]


def read_images(images: Sequence[Any] | None) -> list[Any]:
    """The context images as RGB PIL images, in the order given (the last one is continued).

    Args:
        images: file paths (``str`` or ``Path``; what an upload gives) or PIL images.

    Raises:
        ValueError: no image, or a file Pillow cannot read (the message names the file).
        TypeError: an item that is neither a path nor a PIL image.
    """
    from PIL import Image, UnidentifiedImageError

    if images is None or isinstance(images, (str, Path)):
        images = [] if images is None else [images]
    if len(images) == 0:
        raise ValueError("images: none given; upload one or several images (png, jpg, ...) or pick an example")
    result = []
    for item in images:
        if isinstance(item, Image.Image):
            result.append(item.convert("RGB"))
            continue
        if not isinstance(item, (str, Path)):
            raise TypeError(f"images: expected file paths or PIL images, got {type(item).__name__}")
        name = os.path.basename(os.fspath(item))
        try:
            with Image.open(item) as image:
                result.append(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(
                f"images: {name!r} is not an image file Pillow can read ({type(error).__name__})"
            ) from error
    return result
