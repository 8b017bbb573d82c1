"""How an image becomes the network's input canvas, in one of two modes (``--preprocess``):

* ``fast`` (the default): OpenCV straight on the pixel array: area averaging when shrinking,
  bilinear when enlarging, into a grey canvas; a JPEG larger than the input is decoded at
  reduced scale (:class:`utils.data.images.ReducedImage`).
* ``exact``: the reference's pre-processing, pixel for pixel: Pillow's bicubic resize of the
  fully decoded image. Its outputs equal the original implementation's bit for bit.

The rule for the fast mode is mAP, not pixels: it moves mAP@0.5 on raccoon's test split and on
voc_mini by under 0.2 points (``tests/utils/inference/test_preprocess.py``,
``benchmarks/bench_preprocess.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from utils.data.images import (
    ReducedImage,
    as_pil_rgb,
    ensure_loaded,
    letterbox_geometry,
    letterbox_image,
    resize_image,
)
from utils.options import LETTERBOX_FILL


def to_canvas(
    image: Any, input_size: Sequence[int], letterbox: bool, mode: str, threads: int = 1
) -> tuple[np.ndarray, tuple[int, int]]:
    """(uint8 canvas H x W x 3 at ``input_size`` (height, width), the image's full (width,
    height)) for a PIL image, an RGB array or a :class:`ReducedImage`."""
    full_size = None
    if isinstance(image, ReducedImage):
        image, full_size = image.image, image.full_size
    if mode == "exact":
        image = as_pil_rgb(image)
        full_size = full_size or image.size
        if letterbox:
            canvas = letterbox_image(image, input_size, threads, full_size=full_size)
        else:
            canvas = resize_image(image, input_size, threads)
        return np.asarray(canvas, np.uint8), full_size
    pixels = _rgb_array(image)
    full_size = full_size or (pixels.shape[1], pixels.shape[0])
    h, w = input_size
    if not letterbox:
        return _resize(pixels, (w, h)), full_size
    nw, nh, left, top = letterbox_geometry(full_size, input_size)
    canvas = np.full((h, w, 3), LETTERBOX_FILL, np.uint8)
    canvas[top : top + nh, left : left + nw] = _resize(pixels, (nw, nh))
    return canvas, full_size


def _rgb_array(image: Any) -> np.ndarray:
    """The HxWx3 uint8 RGB pixels, without a copy where they already are that."""
    if not hasattr(image, "mode"):  # an array: used as it is when it is plain RGB
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
            return array
    elif image.mode == "RGB":
        return np.asarray(ensure_loaded(image))
    return np.asarray(as_pil_rgb(image))  # other modes and shapes, checked and converted


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` at ``size`` (width, height): area averaging when shrinking (no aliasing),
    bilinear when enlarging."""
    import cv2

    ih, iw = pixels.shape[:2]
    if (iw, ih) == tuple(size):
        return pixels
    shrinking = size[0] <= iw and size[1] <= ih
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(pixels, size, interpolation=interpolation)
