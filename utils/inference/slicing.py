"""Sliced inference: a detector run on overlapping tiles of each image plus the whole image, its
boxes moved back to image pixels and merged, for objects too small to survive the resize of the
whole image to the network input.

The tiles come from SAHI's ``get_slice_bboxes`` (:mod:`utils.data.tiles`) and the merging from
SAHI's NMS / NMM functions (numpy, no PyTorch); running them is ours, so the tiles of every
image of a batch go through ``detect_batch`` together (SAHI's own ``get_sliced_prediction`` takes
one image at a time and builds a Python object per box; ``benchmarks/bench_slicing.py``
compares the two).
:class:`SlicedDetector` wraps any detector (Keras, TFLite, ONNX, SavedModel) and keeps its API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils.data import tiles
from utils.data.images import as_pil_rgb
from utils.inference.base import Detections, DetectorBase

MERGES = ("nms", "greedynmm", "nmm")


@dataclass(frozen=True)
class SliceSettings:
    """How images are sliced: tile ``size`` (height, width) in image pixels, the ``overlap`` of
    neighbouring tiles (a fraction of a tile), how overlapping boxes are merged, and whether the
    whole image is detected too (the large objects no tile holds)."""

    size: tuple[int, int]
    overlap: float = 0.2
    # NMS: growing boxes (NMM) lets a low-scored large box swallow the good small ones inside
    # it; at get_map's confidence 0.001 that took helmet's mAP@0.5 from 51 to 5 (NMS: 58).
    merge: str = "nms"
    # Boxes overlap when the intersection covers this much of the smaller one ('IOS', SAHI's
    # default: the part of an object cut by a tile border overlaps its whole little by IoU),
    # or of their union ('IOU').
    match_metric: str = "IOS"
    match_threshold: float = 0.5
    whole_image: bool = True
    tile_batch: int = 16  # tiles per detect_batch call

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise ValueError(f"merge must be one of {', '.join(MERGES)}, not {self.merge!r}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), not {self.overlap}")


def tile_boxes(width: int, height: int, settings: SliceSettings) -> np.ndarray:
    """(N, 4) int tiles [x1, y1, x2, y2] covering a ``width`` x ``height`` image; none when the
    image fits in one tile (the whole image is then all there is to detect)."""
    return tiles.tile_boxes(width, height, settings.size, settings.overlap)


def shift_detections(detections: Detections, x: float, y: float) -> Detections:
    """Detections of a tile whose corner is at (x, y), in the image's pixels."""
    boxes = detections.boxes + np.asarray([x, y, x, y], detections.boxes.dtype)
    return Detections(boxes, detections.scores, detections.class_ids)


def merge_detections(
    parts: Sequence[Detections], settings: SliceSettings, max_boxes: int
) -> Detections:
    """One image's detections from its tiles and whole-image pass, overlapping boxes of a class
    merged: ``nms`` keeps the best of each group, ``nmm`` and ``greedynmm`` replace a group by
    the box around it, with its best score."""
    from sahi.postprocess import combine

    boxes = np.concatenate([p.boxes for p in parts]).astype(np.float64).reshape(-1, 4)
    scores = np.concatenate([p.scores for p in parts]).astype(np.float64)
    classes = np.concatenate([p.class_ids for p in parts]).astype(np.int64)
    if not len(scores):
        return Detections()
    predictions = np.concatenate([boxes, scores[:, None], classes[:, None]], axis=1)
    if settings.merge == "nms":
        groups = {
            int(i): [int(i)]
            for i in combine.batched_nms(
                predictions, settings.match_metric, settings.match_threshold
            )
        }
    else:
        merge = combine.batched_nmm if settings.merge == "nmm" else combine.batched_greedy_nmm
        groups = merge(predictions, settings.match_metric, settings.match_threshold)
    kept = sorted(groups, key=lambda i: -scores[i])[:max_boxes]
    merged = np.asarray(
        [_merged_box(boxes, i, groups[i], settings) for i in kept], np.float32
    ).reshape(-1, 4)
    return Detections(merged, scores[kept].astype(np.float32), classes[kept].astype(np.int32))


def _merged_box(boxes, keep, members, settings):
    """The kept box grown by each member that still overlaps it enough (as SAHI merges: the
    growing box is checked again before each union)."""
    box = boxes[keep].copy()
    for member in members:
        other = boxes[member]
        inter = np.prod(
            np.maximum(0.0, np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2]))
        )
        areas = np.prod(box[2:] - box[:2]), np.prod(other[2:] - other[:2])
        base = min(areas) if settings.match_metric == "IOS" else sum(areas) - inter
        if base > 0 and inter / base >= settings.match_threshold:
            box = np.concatenate([np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:])])
    return box


class SlicedDetector(DetectorBase):
    """A detector that detects on tiles plus the whole image; everything else (class names,
    input size, the model) is the wrapped detector's."""

    def __init__(self, detector: DetectorBase, settings: SliceSettings) -> None:
        self.detector = detector
        self.settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detector, name)

    @property
    def reduce_for(self) -> None:
        return None  # tiles are cut from the full image

    def describe(self) -> str:
        s = self.settings
        size = "x".join(str(v) for v in s.size)
        return (
            f"{self.detector.describe()}; sliced: {size} tiles, overlap {s.overlap:g}, "
            f"{s.merge} merge" + (", plus the whole image" if s.whole_image else "")
        )

    def detect(self, image: Any) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Any]) -> list[Detections]:
        """Each image's merged detections; the tiles of all the images run in batches of
        ``settings.tile_batch``."""
        arrays = [np.asarray(as_pil_rgb(image), np.uint8) for image in images]
        jobs = []  # (image index, x, y, pixels)
        for index, array in enumerate(arrays):
            height, width = array.shape[:2]
            tiles = tile_boxes(width, height, self.settings)
            if self.settings.whole_image or not len(tiles):
                jobs.append((index, 0, 0, array))
            for x1, y1, x2, y2 in tiles:
                jobs.append((index, int(x1), int(y1), array[y1:y2, x1:x2]))
        parts: list[list[Detections]] = [[] for _ in arrays]
        step = max(int(self.settings.tile_batch), 1)
        for start in range(0, len(jobs), step):
            chunk = jobs[start : start + step]
            found = self.detector.detect_batch([pixels for _, _, _, pixels in chunk])
            for (index, x, y, _), detections in zip(chunk, found):
                parts[index].append(shift_detections(detections, x, y) if x or y else detections)
        return [merge_detections(p, self.settings, self.detector.max_boxes) for p in parts]
