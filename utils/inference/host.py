"""Post-processing on the host, in NumPy and OpenCV: decode raw head outputs, undo the
letterbox, class-aware NMS.

The same arithmetic as the TensorFlow graph of :mod:`utils.inference.postprocess` (the Keras
detector's), for models run by other runtimes (TFLite, ONNX Runtime, a SavedModel's raw
signature). Nothing here imports TensorFlow, so a process that runs an exported model starts
in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nets.anchors import BOX_AND_OBJECTNESS, MAX_LOG_WH


def image_transform(
    image_size: Sequence[int], input_size: Sequence[int], letterbox: bool = True
) -> np.ndarray:
    """Parameters that map input-pixel boxes back to the original image.

    Args:
        image_size: (width, height) of the original image.
        input_size: (height, width) of the network input.
        letterbox: whether the image was letterboxed (else plainly resized).

    Returns:
        float32 array [top, left, scale_y, scale_x]: original = (input - offset) / scale.

    The letterbox case follows the reference's correction exactly (rounded new size, offset
    half the padding) rather than the truncated size its resize uses, so detections reproduce
    the reference's to a fraction of a pixel; the two differ by under one pixel per 300.
    """
    iw, ih = image_size
    h, w = input_size
    if letterbox:
        scale = min(w / iw, h / ih)
        nw, nh = float(np.round(iw * scale)), float(np.round(ih * scale))
        return np.array([(h - nh) / 2.0, (w - nw) / 2.0, nh / ih, nw / iw], np.float32)
    return np.array([0.0, 0.0, h / ih, w / iw], np.float32)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large negative logits


def _level_features(output, num_anchors, num_classes):
    """One level's raw output (gh, gw, A * (5 + C)), or with a batch of 1, as (gh, gw, A, 5 + C)."""
    output = np.asarray(output, np.float32)
    if output.ndim == 4:
        output = output[0]
    gh, gw = output.shape[:2]
    return output.reshape(gh, gw, num_anchors, BOX_AND_OBJECTNESS + num_classes)


def decode_raw(
    outputs: Sequence[Any],
    anchors: Any,
    anchors_mask: Sequence[Sequence[int]],
    num_classes: int,
    input_size: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Raw head outputs of one image -> boxes, per-class scores.

    Args:
        outputs: list of (gh, gw, A * (5 + C)) arrays (or with a leading batch of 1), ordered
            like ``anchors_mask``.
        anchors: (9, 2) anchor (width, height) in input pixels.
        input_size: (height, width) of the network input.

    Returns:
        boxes (N, 4) [x1, y1, x2, y2] in input pixels and scores (N, C) = sigmoid(objectness)
        x sigmoid(class logit), float32.
    """
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    in_h, in_w = float(input_size[0]), float(input_size[1])
    all_boxes, all_scores = [], []
    for output, mask in zip(outputs, anchors_mask):
        feats = _level_features(output, len(mask), num_classes)
        gh, gw = feats.shape[:2]
        grid_x, grid_y = np.meshgrid(
            np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32)
        )
        cx = (_sigmoid(feats[..., 0]) + grid_x[..., None]) / gw * in_w
        cy = (_sigmoid(feats[..., 1]) + grid_y[..., None]) / gh * in_h
        level_anchors = anchors[list(mask)]
        w = np.exp(np.minimum(feats[..., 2], MAX_LOG_WH)) * level_anchors[:, 0]
        h = np.exp(np.minimum(feats[..., 3], MAX_LOG_WH)) * level_anchors[:, 1]
        boxes = np.stack([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], axis=-1)
        scores = _sigmoid(feats[..., 4:5]) * _sigmoid(feats[..., 5:])
        all_boxes.append(boxes.reshape(-1, 4))
        all_scores.append(scores.reshape(-1, num_classes))
    return (
        np.concatenate(all_boxes).astype(np.float32),
        np.concatenate(all_scores).astype(np.float32),
    )


def to_image_coordinates(boxes: np.ndarray, transform: Any) -> np.ndarray:
    """[x1, y1, x2, y2] boxes in input pixels -> original-image pixels (not clipped)."""
    top, left, scale_y, scale_x = (float(v) for v in transform)
    offset = np.array([left, top, left, top], np.float32)
    scale = np.array([scale_x, scale_y, scale_x, scale_y], np.float32)
    return (boxes - offset) / scale


def class_aware_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    score_threshold: float,
    iou_threshold: float,
    max_boxes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class greedy NMS over multi-label scores (OpenCV's batched NMS).

    A box enters once per class whose score is >= ``score_threshold``; it is dropped when a
    better box of the same class overlaps it by IoU > ``iou_threshold``. At most ``max_boxes``
    are kept per class and in total, by descending score, as the graph's
    ``combined_non_max_suppression`` does.

    Returns boxes (K, 4), scores (K,), class ids (K,) int32, sorted by descending score.
    """
    import cv2

    candidate, class_ids = np.nonzero(scores >= score_threshold)
    if not len(candidate):
        return (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32))
    cand_boxes = boxes[candidate].astype(np.float64)
    cand_scores = scores[candidate, class_ids].astype(np.float32)
    # OpenCV takes (x, y, w, h) and keeps scores > threshold: the candidates already passed.
    xywh = np.concatenate([cand_boxes[:, :2], cand_boxes[:, 2:] - cand_boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), cand_scores.tolist(), class_ids.tolist(), -1.0, float(iou_threshold)
    )
    kept = np.asarray(keep, np.int64).reshape(-1)
    # Descending score, ties in candidate order; then the per-class and total caps.
    kept = kept[np.lexsort((kept, -cand_scores[kept]))]
    per_class = np.zeros(int(class_ids.max()) + 1, np.int64)
    capped: list[int] = []
    for index in kept:
        cls = class_ids[index]
        if per_class[cls] < max_boxes:
            per_class[cls] += 1
            capped.append(int(index))
            if len(capped) == max_boxes:
                break
    chosen = np.asarray(capped, np.int64)
    return (
        cand_boxes[chosen].astype(np.float32),
        cand_scores[chosen],
        class_ids[chosen].astype(np.int32),
    )


def objectness_levels(
    outputs: Sequence[Any], anchors_mask: Sequence[Sequence[int]], num_classes: int
) -> list[np.ndarray]:
    """Per-level (gh, gw) maps of the highest sigmoid(objectness) over the level's anchors."""
    return [
        _sigmoid(_level_features(output, len(mask), num_classes)[..., 4]).max(axis=-1)
        for output, mask in zip(outputs, anchors_mask)
    ]
