"""From raw head outputs to detections, as TensorFlow ops: decode, score, undo the letterbox,
class-aware NMS.

Everything works on whole batched tensors (no Python loops over boxes), so it traces into one
graph: the Keras detector's (``utils.inference.detector``) and the exported end-to-end graphs
(``utils.export``) both call :func:`detect_from_outputs`. Boxes are [x1, y1, x2, y2] throughout:
TensorFlow's NMS documents [y1, x1, y2, x2] but is invariant to swapping the axes (IoU is), so
no reordering is needed. ``utils.inference.host`` is the NumPy twin for other runtimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from nets.head import decode_head


def decode_batch(
    outputs: Sequence[Any],
    anchors: Any,
    anchors_mask: Sequence[Sequence[int]],
    num_classes: int,
    input_size: Any,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Raw head outputs of a batch -> boxes, objectness and class probabilities per image.

    Decoding is :func:`nets.head.decode_head` (shared with the loss); objectness and classes go
    through a sigmoid (multi-label), as in the reference implementation.

    Args:
        outputs: list of (B, gh, gw, A * (5 + C)) tensors, ordered like ``anchors_mask``.
        anchors: (9, 2) array of anchor (width, height) in input pixels.
        anchors_mask: anchor indices per output.
        num_classes: C.
        input_size: (height, width) of the network input, Python ints or a tensor.

    Returns:
        boxes (B, N, 4) [x1, y1, x2, y2] in input pixels, objectness (B, N), class_probs
        (B, N, C).
    """
    anchors = np.asarray(anchors, np.float32)
    input_hw = tf.cast(tf.reshape(tf.convert_to_tensor(input_size), [2]), tf.float32)
    input_wh = input_hw[::-1]
    all_boxes, all_obj, all_cls = [], [], []
    for output, mask in zip(outputs, anchors_mask):
        xy, wh, obj_logits, cls_logits, _ = decode_head(
            output, anchors[list(mask)], num_classes, input_hw
        )
        boxes = tf.concat([(xy - wh / 2.0) * input_wh, (xy + wh / 2.0) * input_wh], axis=-1)
        batch = tf.shape(output)[0]
        all_boxes.append(tf.reshape(boxes, [batch, -1, 4]))
        all_obj.append(tf.reshape(tf.sigmoid(obj_logits), [batch, -1]))
        all_cls.append(tf.reshape(tf.sigmoid(cls_logits), [batch, -1, num_classes]))
    return tf.concat(all_boxes, 1), tf.concat(all_obj, 1), tf.concat(all_cls, 1)


def scored_boxes(
    outputs: Sequence[Any],
    anchors: Any,
    anchors_mask: Sequence[Sequence[int]],
    num_classes: int,
    input_size: Any,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Boxes (B, N, 4) in input pixels and per-class scores (B, N, C) = objectness x class
    probability: what NMS works on."""
    boxes, objectness, class_probs = decode_batch(
        outputs, anchors, anchors_mask, num_classes, input_size
    )
    return boxes, objectness[..., None] * class_probs


def to_image_pixels(boxes: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """Boxes (B, N, 4) in input pixels -> original-image pixels (not clipped), with one
    [top, left, scale_y, scale_x] transform per image (B, 4); the graph twin of
    :func:`utils.inference.host.to_image_coordinates`."""
    transforms = tf.cast(transforms, tf.float32)[:, None, :]
    offset = tf.concat([transforms[..., 1:2], transforms[..., 0:1]] * 2, axis=-1)
    scale = tf.concat([transforms[..., 3:4], transforms[..., 2:3]] * 2, axis=-1)
    return (boxes - offset) / scale


def batched_class_aware_nms(
    boxes: tf.Tensor, scores: tf.Tensor, score_threshold: Any, iou_threshold: Any, max_boxes: Any
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-class NMS over multi-label scores, all classes and all images at once.

    Args:
        boxes: (B, N, 4) [x1, y1, x2, y2].
        scores: (B, N, C) per-class scores (objectness x class probability).
        score_threshold: keep scores >= this.
        iou_threshold: suppress same-class boxes overlapping a better one by more than this.
        max_boxes: cap per class and in total per image (int or scalar int tensor).

    Returns:
        boxes (B, K, 4), scores (B, K), class ids (B, K) int32, each image's sorted by
        descending score and zero-padded, and the number of valid rows per image (B,).
    """
    # combined_non_max_suppression drops scores <= threshold; the reference keeps >= threshold.
    threshold = tf.cast(score_threshold, tf.float32)
    threshold = threshold - tf.maximum(tf.abs(threshold) * 1e-6, 1e-12)
    nms_boxes, nms_scores, nms_classes, valid = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :],
        scores,
        max_output_size_per_class=max_boxes,
        max_total_size=max_boxes,
        iou_threshold=iou_threshold,
        score_threshold=threshold,
        pad_per_class=False,
        clip_boxes=False,
    )
    return nms_boxes, nms_scores, tf.cast(nms_classes, tf.int32), valid


def detect_from_outputs(
    outputs: Sequence[Any],
    anchors: Any,
    anchors_mask: Sequence[Sequence[int]],
    num_classes: int,
    input_size: Any,
    conf: Any,
    nms_iou: Any,
    max_boxes: Any,
    transforms: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Raw head outputs of a batch -> detections: decode, score, map to image pixels (with
    ``transforms``; else boxes stay in input pixels), class-aware NMS.

    Returns boxes (B, K, 4) [x1, y1, x2, y2], scores (B, K), class ids (B, K) int32 and the
    valid count per image (B,), as :func:`batched_class_aware_nms`.
    """
    boxes, scores = scored_boxes(outputs, anchors, anchors_mask, num_classes, input_size)
    if transforms is not None:
        boxes = to_image_pixels(boxes, transforms)
    return batched_class_aware_nms(boxes, scores, conf, nms_iou, max_boxes)


def objectness_maps(
    outputs: Sequence[Any], anchors_mask: Sequence[Sequence[int]], num_classes: int
) -> list[tf.Tensor]:
    """Per-level (gh, gw) maps of the highest sigmoid(objectness) over the level's anchors."""
    maps = []
    for output, mask in zip(outputs, anchors_mask):
        _, _, obj_logits, _, _ = decode_head(
            output[:1], np.ones((len(mask), 2), np.float32), num_classes, (1, 1)
        )
        maps.append(tf.reduce_max(tf.sigmoid(obj_logits[0]), axis=-1))
    return maps
