"""Calibration images: letterboxed canvases spread over a split of a dataset, for int8
quantisation and the exports' checks."""

from __future__ import annotations

from typing import Any

import numpy as np


def calibration_canvases(
    dataset: Any, split: str, class_names: Any, count: int, input_size: Any, progress: bool = True
) -> np.ndarray:
    """Up to ``count`` letterboxed uint8 canvases from a split of a dataset (any format),
    spread over it."""
    from tqdm import tqdm

    from utils.config import ConfigError
    from utils.data.images import ImageLoadError, letterbox_image, load_image

    read = dataset.load(split, class_names)
    samples, root = read.samples, read.where
    if not samples:
        raise ConfigError(f"no usable image in {root} for calibration")
    picks = np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int)
    canvases = []
    for index in tqdm(
        sorted(set(picks.tolist())),
        desc="reading calibration images",
        unit="img",
        disable=not progress,
        dynamic_ncols=True,
    ):
        try:
            image = load_image(samples[index].image_path, apply_exif=False)
        except ImageLoadError:
            continue  # the split reader already reported it
        canvases.append(np.asarray(letterbox_image(image, input_size), np.uint8))
    if not canvases:
        raise ConfigError(f"none of the calibration images in {root} could be read")
    return np.stack(canvases)
