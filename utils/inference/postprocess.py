"""Box operations as TensorFlow ops: decode head outputs, undo the letterbox, score, NMS.

All functions work on whole tensors (no Python loops over boxes), so they trace into the
detector's single compiled graph. Boxes inside this module are [y1, x1, y2, x2] (the order
``tf.image`` NMS expects); :class:`utils.inference.detector.Detector` hands them out as [x1, y1,
x2, y2].
"""

import numpy as np
import tensorflow as tf

from nets.head import decode_head


def decode_batch(outputs, anchors, anchors_mask, num_classes, input_size):
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
        boxes (B, N, 4) [y1, x1, y2, x2] in input pixels, objectness (B, N), class_probs
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
        mins = (xy - wh / 2.0) * input_wh
        maxs = (xy + wh / 2.0) * input_wh
        boxes = tf.stack([mins[..., 1], mins[..., 0], maxs[..., 1], maxs[..., 0]], axis=-1)
        batch = tf.shape(output)[0]
        all_boxes.append(tf.reshape(boxes, [batch, -1, 4]))
        all_obj.append(tf.reshape(tf.sigmoid(obj_logits), [batch, -1]))
        all_cls.append(tf.reshape(tf.sigmoid(cls_logits), [batch, -1, num_classes]))
    return tf.concat(all_boxes, 1), tf.concat(all_obj, 1), tf.concat(all_cls, 1)


def decode_outputs(outputs, anchors, anchors_mask, num_classes, input_size):
    """:func:`decode_batch` for the first image only: boxes (N, 4), objectness (N,),
    class_probs (N, C)."""
    boxes, objectness, class_probs = decode_batch(
        [output[:1] for output in outputs], anchors, anchors_mask, num_classes, input_size
    )
    return boxes[0], objectness[0], class_probs[0]


def to_image_coordinates(boxes, transform):
    """[y1, x1, y2, x2] boxes in input pixels -> original-image pixels (not clipped).

    ``boxes`` (N, 4) with one ``transform`` (4,), or (B, N, 4) with (B, 1, 4) transforms.
    """
    transform = tf.cast(transform, tf.float32)
    offset = tf.concat([transform[..., 0:2], transform[..., 0:2]], axis=-1)
    scale = tf.concat([transform[..., 2:4], transform[..., 2:4]], axis=-1)
    return (boxes - offset) / scale


def batched_class_aware_nms(boxes, scores, score_threshold, iou_threshold, max_boxes):
    """Per-class NMS over multi-label scores, all classes and all images at once.

    Args:
        boxes: (B, N, 4) [y1, x1, y2, x2].
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


def class_aware_nms(boxes, scores, score_threshold, iou_threshold, max_boxes):
    """:func:`batched_class_aware_nms` for one image: boxes (N, 4) and scores (N, C) in; the
    kept boxes (K, 4), scores (K,) and class ids (K,) out."""
    nms_boxes, nms_scores, nms_classes, valid = batched_class_aware_nms(
        boxes[None], scores[None], score_threshold, iou_threshold, max_boxes
    )
    count = valid[0]
    return nms_boxes[0, :count], nms_scores[0, :count], nms_classes[0, :count]


def yxyx_to_xyxy(boxes):
    """[y1, x1, y2, x2] -> [x1, y1, x2, y2]."""
    return tf.gather(boxes, [1, 0, 3, 2], axis=-1)


def box_iou(boxes_a, boxes_b):
    """Pairwise IoU of (N, 4) and (M, 4) boxes given as [x1, y1, x2, y2] (or [y1, x1, y2, x2])."""
    a = tf.cast(boxes_a, tf.float32)[:, None, :]
    b = tf.cast(boxes_b, tf.float32)[None, :, :]
    inter_min = tf.maximum(a[..., :2], b[..., :2])
    inter_max = tf.minimum(a[..., 2:], b[..., 2:])
    inter = tf.reduce_prod(tf.maximum(inter_max - inter_min, 0.0), axis=-1)
    area_a = tf.reduce_prod(tf.maximum(a[..., 2:] - a[..., :2], 0.0), axis=-1)
    area_b = tf.reduce_prod(tf.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)
    return inter / tf.maximum(area_a + area_b - inter, 1e-9)


def objectness_maps(outputs, anchors_mask, num_classes):
    """Per-level (gh, gw) maps of the highest sigmoid(objectness) over the level's anchors."""
    maps = []
    for output, mask in zip(outputs, anchors_mask):
        _, _, obj_logits, _, _ = decode_head(
            output[:1], np.ones((len(mask), 2), np.float32), num_classes, (1, 1)
        )
        maps.append(tf.reduce_max(tf.sigmoid(obj_logits[0]), axis=-1))
    return maps
