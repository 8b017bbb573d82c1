"""Anchor boxes fitted to a dataset: k-means on the boxes' sizes with 1 - IoU as the distance
(what kmeans_for_anchors.py and ``train.py --anchors auto`` run).

Box widths and heights are normalised by their image's real size, clustered with median updates
from a seeded start and sorted by area; :func:`fit_anchors` scales them to an input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utils.config import ConfigError
from utils.data.samples import Sample
from utils.options import default


def normalized_box_sizes(samples):
    """(N, 2) float64 (width, height) of every box as a fraction of its image's size."""
    sizes = [
        np.stack(
            [(s.boxes[:, 2] - s.boxes[:, 0]) / s.width, (s.boxes[:, 3] - s.boxes[:, 1]) / s.height],
            1,
        )
        for s in samples
        if len(s.boxes)
    ]
    return np.concatenate(sizes).astype(np.float64) if sizes else np.zeros((0, 2))


def wh_iou(sizes, centers):
    """IoU of boxes and centres aligned at a common corner: (N, 2) x (K, 2) -> (N, K)."""
    inter = np.minimum(sizes[:, None, 0], centers[None, :, 0]) * np.minimum(
        sizes[:, None, 1], centers[None, :, 1]
    )
    union = (sizes[:, 0] * sizes[:, 1])[:, None] + (centers[:, 0] * centers[:, 1])[None, :] - inter
    return inter / union


def kmeans_iou(sizes, k=default("num_anchors"), seed=default("seed", "anchors"), max_iter=1000):
    """Cluster (N, 2) sizes into k centres sorted by area; returns (centres, assignment)."""
    if k < 1:
        raise ConfigError(f"the number of anchors must be at least 1, got {k}")
    if len(sizes) < k:
        raise ConfigError(f"need at least {k} boxes for {k} anchors, found {len(sizes)}")
    rng = np.random.default_rng(seed)
    centers = sizes[rng.choice(len(sizes), k, replace=False)]
    assignment = None
    for _ in range(max_iter):
        nearest = np.argmax(wh_iou(sizes, centers), axis=1)
        if assignment is not None and np.array_equal(nearest, assignment):
            break
        assignment = nearest
        for j in range(k):
            members = sizes[assignment == j]
            if len(members):  # an empty cluster keeps its centre
                centers[j] = np.median(members, axis=0)
    order = np.argsort(centers[:, 0] * centers[:, 1])
    remap = np.empty(k, int)
    remap[order] = np.arange(k)
    return centers[order], remap[assignment]


def mean_best_iou(sizes, centers):
    """Average over boxes of the IoU with their best-fitting anchor."""
    return float(np.mean(np.max(wh_iou(sizes, centers), axis=1)))


def format_anchors(anchors):
    """'w,h, w,h, ...' with whole pixels, as in model_data/yolo_anchors.txt."""
    return ", ".join(f"{int(round(w))},{int(round(h))}" for w, h in anchors)


def fit_anchors(
    samples: Sequence[Sample],
    input_size: tuple[int, int],
    k: int = default("num_anchors"),
    seed: int = default("seed", "anchors"),
) -> tuple[np.ndarray, float]:
    """(k, 2) anchors (width, height) in the pixels of ``input_size`` (height, width), sorted by
    area, and the mean IoU of each box with its best anchor."""
    sizes = normalized_box_sizes(samples)
    centers, _ = kmeans_iou(sizes, k, seed)
    height, width = input_size
    return (centers * np.array([width, height])).astype(np.float32), mean_best_iou(sizes, centers)
