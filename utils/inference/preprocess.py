"""How an image becomes the network's input canvas, in one of two modes (``--preprocess``):

* ``exact``: the reference's pre-processing, pixel for pixel: Pillow's bicubic resize of the
  fully decoded image. Its outputs equal the original implementation's bit for bit.
* ``fast`` (the default): the same bicubic resize, with less work before it: a JPEG larger than
  the input is decoded at 1/2, 1/4 or 1/8 scale (:class:`utils.data.images.ReducedImage`), and
  an image still over four times the input is first shrunk by a whole factor with Pillow's box
  ``reduce`` (its ``reducing_gap=2``), so the bicubic filter reads at most a quarter as many
  pixels.

The rule for the fast mode is mAP, not pixels: it moves mAP@0.5 on raccoon's test split and on
voc_mini by under 0.2 points (``benchmarks/bench_preprocess.py``; the test in
``tests/utils/inference/test_preprocess.py``). OpenCV's resizes are faster still but failed it:
area, bilinear and bicubic all moved voc_mini by 0.4 to 9 points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from utils.data.images import (
    ReducedImage,
    as_pil_rgb,
    letterbox_geometry,
    letterbox_image,
    resize_image,
)

# Shrink by a whole factor first while the image stays over this many times the target.
REDUCING_GAP = 2.0


def to_canvas(
    image: Any, input_size: Sequence[int], letterbox: bool, mode: str, threads: int = 1
) -> tuple[np.ndarray, tuple[int, int]]:
    """(uint8 canvas H x W x 3 at ``input_size`` (height, width), the image's full (width,
    height)) for a PIL image, an RGB array or a :class:`ReducedImage`."""
    full_size = None
    if isinstance(image, ReducedImage):
        image, full_size = image.image, image.full_size
    image = as_pil_rgb(image)
    full_size = full_size or image.size
    if mode == "fast":
        image = _reduced(image, full_size, input_size, letterbox)
    if letterbox:
        canvas = letterbox_image(image, input_size, threads, full_size=full_size)
    else:
        canvas = resize_image(image, input_size, threads)
    return np.asarray(canvas, np.uint8), full_size


def _reduced(image: Any, full_size: tuple[int, int], input_size: Sequence[int], letterbox: bool):
    """``image`` shrunk by the largest whole factor that keeps it over :data:`REDUCING_GAP`
    times the size the network sees it at (Pillow's box ``reduce``: a sum per block)."""
    h, w = input_size
    if letterbox:
        nw, nh, _, _ = letterbox_geometry(full_size, input_size)
    else:
        nw, nh = w, h
    iw, ih = image.size
    factor = int(min(iw / nw, ih / nh) // REDUCING_GAP)
    return image.reduce(factor) if factor >= 2 else image
