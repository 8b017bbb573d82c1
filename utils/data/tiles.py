"""Tiles of large images: where sliced inference looks (``utils.inference.slicing``) and what
``train.py --train-slice`` trains on, so that small objects keep their pixels.

The tile grid is SAHI's (``sahi.slicing.get_slice_bboxes``). For training, each tile of an image
larger than a tile becomes a sample of its own, written once as a JPEG into a cache folder, with
the boxes cut to the tile: a box mostly inside it (at least ``min_visible`` of its area) is kept,
clipped to the tile; the rest of the box, a remnant too small to learn from, is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from utils import files
from utils.data.samples import Sample

# JPEG quality of the cached training tiles: close to lossless at a fifth of a PNG's size.
TILE_JPEG_QUALITY = 95


def tile_boxes(width: int, height: int, size: tuple[int, int], overlap: float) -> np.ndarray:
    """(N, 4) int tiles [x1, y1, x2, y2] of ``size`` (height, width) overlapping by ``overlap``
    (a fraction of a tile) and covering a ``width`` x ``height`` image; none when the image fits
    in one tile."""
    from sahi.slicing import get_slice_bboxes

    tile_h, tile_w = size
    if width <= tile_w and height <= tile_h:
        return np.zeros((0, 4), np.int64)
    boxes = get_slice_bboxes(
        image_height=height,
        image_width=width,
        slice_height=min(tile_h, height),
        slice_width=min(tile_w, width),
        auto_slice_resolution=False,
        overlap_height_ratio=overlap,
        overlap_width_ratio=overlap,
    )
    return np.asarray(boxes, np.int64).reshape(-1, 4)


def cut_boxes(
    boxes: np.ndarray, tile: Sequence[int], min_visible: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The boxes of an image as a tile sees them: ``(boxes in tile pixels, kept mask)`` for the
    boxes with at least ``min_visible`` of their area inside the tile, clipped to it."""
    x1, y1, x2, y2 = (float(v) for v in tile)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    clipped = np.stack(
        [
            np.clip(boxes[:, 0], x1, x2),
            np.clip(boxes[:, 1], y1, y2),
            np.clip(boxes[:, 2], x1, x2),
            np.clip(boxes[:, 3], y1, y2),
        ],
        axis=1,
    )
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    inside = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0.0), axis=1)
    kept = (area > 0) & (inside >= min_visible * area)
    shifted = clipped[kept] - np.array([x1, y1, x1, y1])
    return shifted.astype(np.float32), kept


def tile_samples(
    samples: Sequence[Sample],
    size: tuple[int, int],
    cache_dir: str,
    overlap: float = 0.2,
    min_visible: float = 0.5,
) -> list[Sample]:
    """The tiles of the samples larger than a tile, as samples whose images are JPEG files in
    ``cache_dir`` (written once; a resumed run finds them); tiles without a box are left out.
    Raises :class:`utils.data.images.ImageLoadError` for an image that cannot be read."""
    from utils.data.images import load_image

    os.makedirs(cache_dir, exist_ok=True)
    tiles = []
    for sample in samples:
        grid = tile_boxes(sample.width, sample.height, size, overlap)
        image = None
        for tile in grid:
            boxes, kept = cut_boxes(sample.boxes, tile, min_visible)
            if not kept.any():
                continue
            x1, y1, x2, y2 = (int(v) for v in tile)
            name = f"{sample.image_id}_{x1}_{y1}_{x2 - x1}x{y2 - y1}"
            path = os.path.join(cache_dir, name + ".jpg")
            if not os.path.isfile(path):
                if image is None:  # as training reads it: stored pixels, no EXIF rotation
                    image = load_image(sample.image_path, apply_exif=False)
                with files.atomic_path(path) as temporary:
                    image.crop((x1, y1, x2, y2)).save(temporary, "JPEG", quality=TILE_JPEG_QUALITY)
            tiles.append(
                Sample(
                    name,
                    os.path.abspath(path),
                    x2 - x1,
                    y2 - y1,
                    boxes,
                    np.asarray(sample.class_ids)[kept],
                    np.asarray(sample.difficult)[kept],
                )
            )
    return tiles
