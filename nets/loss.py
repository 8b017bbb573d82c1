"""The YOLOv4 loss: CIoU box loss, objectness BCE with an ignore mask, class BCE.

Follows the reference implementation's weighting so its hyper-parameters keep their
meaning, with one deliberate improvement: the ignore mask compares every prediction with *all*
ground-truth boxes of its image (``gt_boxes``), not only those assigned to the same level, so a
prediction that already overlaps an object well is never pushed towards "background".

Everything is vectorised over the batch (no ``while_loop``); with ``static_shapes=True`` no
shape depends on the data, so the loss can be compiled with XLA. Pure TensorFlow ops; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from nets.anchors import ANCHORS_MASK
from nets.head import decode_head

# Per-level objectness weights for [P5, P4, P3], as in the reference.
DEFAULT_BALANCE = (0.4, 1.0, 4.0)
BOX_RATIO = 0.05
EPS = 1e-7


def box_iou_cxcywh(boxes_a: tf.Tensor, boxes_b: tf.Tensor) -> tf.Tensor:
    """Plain IoU between broadcastable (..., 4) boxes given as (cx, cy, w, h)."""
    a_min = boxes_a[..., :2] - boxes_a[..., 2:4] / 2
    a_max = boxes_a[..., :2] + boxes_a[..., 2:4] / 2
    b_min = boxes_b[..., :2] - boxes_b[..., 2:4] / 2
    b_max = boxes_b[..., :2] + boxes_b[..., 2:4] / 2
    inter_wh = tf.maximum(tf.minimum(a_max, b_max) - tf.maximum(a_min, b_min), 0.0)
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    area_a = boxes_a[..., 2] * boxes_a[..., 3]
    area_b = boxes_b[..., 2] * boxes_b[..., 3]
    return inter / tf.maximum(area_a + area_b - inter, EPS)


def box_ciou(pred: tf.Tensor, true: tf.Tensor) -> tf.Tensor:
    """Complete IoU of (..., 4) (cx, cy, w, h) boxes: IoU - rho^2/c^2 - alpha*v."""
    p_min, p_max = pred[..., :2] - pred[..., 2:4] / 2, pred[..., :2] + pred[..., 2:4] / 2
    t_min, t_max = true[..., :2] - true[..., 2:4] / 2, true[..., :2] + true[..., 2:4] / 2
    inter_wh = tf.maximum(tf.minimum(p_max, t_max) - tf.maximum(p_min, t_min), 0.0)
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    union = pred[..., 2] * pred[..., 3] + true[..., 2] * true[..., 3] - inter
    iou = inter / tf.maximum(union, EPS)
    centre_dist = tf.reduce_sum(tf.square(pred[..., :2] - true[..., :2]), axis=-1)
    enclose_wh = tf.maximum(tf.maximum(p_max, t_max) - tf.minimum(p_min, t_min), 0.0)
    enclose_diag = tf.reduce_sum(tf.square(enclose_wh), axis=-1)
    v = (4.0 / math.pi**2) * tf.square(
        tf.atan(pred[..., 2] / tf.maximum(pred[..., 3], EPS))
        - tf.atan(true[..., 2] / tf.maximum(true[..., 3], EPS))
    )
    alpha = v / tf.maximum(1.0 - iou + v, EPS)
    return iou - centre_dist / tf.maximum(enclose_diag, EPS) - alpha * v


def compact_boxes(gt_boxes: tf.Tensor) -> tf.Tensor:
    """Keep only as many box slots as the fullest image of the batch uses.

    The pipeline pads every image to a fixed count (100); comparing each prediction with all the
    empty slots dominated the loss's cost. Valid boxes move to the front (stable order), so the
    result is (B, n, 4) with n the largest number of boxes in one image (at least 1).
    """
    valid = tf.cast(gt_boxes[..., 2] * gt_boxes[..., 3] > 0, tf.int32)
    count = tf.maximum(tf.reduce_max(tf.reduce_sum(valid, axis=1)), 1)
    order = tf.argsort(-valid, axis=1, stable=True)[:, :count]
    return tf.gather(gt_boxes, order, batch_dims=1)


def sum_over_replicas(value: tf.Tensor) -> tf.Tensor:
    """``value`` summed over the replicas of a ``tf.distribute`` step (itself outside one).

    The loss divides sums by counts (positives, negatives) of the whole batch: under
    replication each replica sees a slice of the batch, so the counts must be the global
    ones for the replicas' summed gradients to equal the single-device gradient.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def _bce_with_logits(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


class YoloLoss:
    """Callable computing the YOLO loss of one batch.

    Args:
        anchors: (9, 2) anchor (width, height) in input pixels.
        num_classes: number of classes C.
        anchors_mask: anchor indices per output level, ordered [P5, P4, P3].
        ignore_thresh: predictions whose best IoU with any ground truth of their image reaches
            this are not penalised as background.
        label_smoothing: class targets become y * (1 - ls) + ls / C.
        focal_loss: use the reference's focal objectness term (alpha 0.25, gamma 2, x10).
        balance: objectness weight per level [P5, P4, P3].
        static_shapes: keep every tensor's shape independent of the data, as XLA needs. Off
            (the default), the padding slots of ``gt_boxes`` are dropped before the ignore-mask
            IoU (3x faster on CPU) and the box and class terms are computed on the positive
            anchors only.

    Call with ``(y_true, y_pred, gt_boxes)``: ``y_true`` three (B, H, W, A, 5 + C) targets
    holding (cx, cy, w, h) normalised by the input size, objectness, one-hot classes;
    ``y_pred`` the three raw head outputs (B, H, W, A * (5 + C)); ``gt_boxes`` (B, N, 4)
    normalised (cx, cy, w, h), zero-padded. Returns a dict of scalar tensors
    ``box``, ``obj``, ``cls`` and ``total`` (their sum). Inside a ``tf.distribute`` replica
    step these are the replica's share of the global batch's loss (normalised by the global
    counts): summed over the replicas they are the loss of the whole batch.
    """

    def __init__(
        self,
        anchors: ArrayLike,
        num_classes: int,
        anchors_mask: Sequence[Sequence[int]] = ANCHORS_MASK,
        ignore_thresh: float = 0.5,
        label_smoothing: float = 0.0,
        focal_loss: bool = False,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        balance: Sequence[float] = DEFAULT_BALANCE,
        box_ratio: float = BOX_RATIO,
        static_shapes: bool = False,
    ) -> None:
        self.anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
        self.num_classes = int(num_classes)
        self.anchors_mask = [list(m) for m in anchors_mask]
        self.ignore_thresh = float(ignore_thresh)
        self.label_smoothing = float(label_smoothing)
        self.focal_loss = bool(focal_loss)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.balance = [float(b) for b in balance]
        self.box_ratio = float(box_ratio)
        self.static_shapes = bool(static_shapes)
        if len(self.balance) != len(self.anchors_mask):
            raise ValueError("balance needs one weight per output level")

    def __call__(
        self, y_true: Sequence[tf.Tensor], y_pred: Sequence[tf.Tensor], gt_boxes: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        gt_boxes = tf.cast(gt_boxes, tf.float32)
        if not self.static_shapes:
            gt_boxes = compact_boxes(gt_boxes)
        # The input size follows from the coarsest level's grid (stride 32).
        grid0 = tf.shape(y_pred[0])[1:3]
        input_hw = tf.cast(grid0 * 32, tf.float32)
        obj_ratio = 5.0 * input_hw[0] * input_hw[1] / (416.0**2)
        cls_ratio = self.num_classes / 80.0
        box_total = obj_total = cls_total = 0.0
        for level, (true, raw) in enumerate(zip(y_true, y_pred)):
            box, obj, cls = self._level_loss(
                level, tf.cast(true, tf.float32), tf.cast(raw, tf.float32), gt_boxes, input_hw
            )
            box_total += box
            obj_total += obj * self.balance[level] * obj_ratio
            cls_total += cls * cls_ratio
        return {
            "box": box_total,
            "obj": obj_total,
            "cls": cls_total,
            "total": box_total + obj_total + cls_total,
        }

    def _level_loss(
        self, level: int, true: tf.Tensor, raw: tf.Tensor, gt_boxes: tf.Tensor, input_hw: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        mask = self.anchors_mask[level]
        pred_xy, pred_wh, obj_logits, cls_logits, _ = decode_head(
            raw, self.anchors[mask], self.num_classes, input_hw
        )
        pred_box = tf.concat([pred_xy, pred_wh], axis=-1)
        true_box, object_mask, cls_true = tf.split(true, [4, 1, self.num_classes], axis=-1)
        object_mask = object_mask[..., 0]
        num_pos = tf.maximum(sum_over_replicas(tf.reduce_sum(object_mask)), 1.0)

        # Ignore mask: best IoU of each prediction with every ground truth of its image. It
        # takes no gradient, so it reads the boxes outside the tape.
        batch = tf.shape(raw)[0]
        flat_pred = tf.reshape(tf.stop_gradient(pred_box), [batch, -1, 1, 4])
        iou = box_iou_cxcywh(flat_pred, gt_boxes[:, None, :, :])  # (B, HWA, N)
        best_iou = tf.reshape(tf.reduce_max(iou, axis=-1), tf.shape(object_mask))
        ignore_mask = tf.cast(best_iou < self.ignore_thresh, tf.float32)
        negative_mask = (1.0 - object_mask) * ignore_mask
        num_neg = tf.maximum(sum_over_replicas(tf.reduce_sum(negative_mask)), 1.0)

        obj_bce = _bce_with_logits(object_mask, obj_logits)
        if self.focal_loss:
            prob = tf.sigmoid(obj_logits)
            obj_terms = (
                (
                    object_mask * tf.pow(1.0 - prob, self.focal_gamma) * self.focal_alpha
                    + negative_mask * tf.pow(prob, self.focal_gamma) * (1.0 - self.focal_alpha)
                )
                * obj_bce
                * 10.0
            )
        else:
            obj_terms = (object_mask + negative_mask) * obj_bce
        obj_loss = tf.reduce_sum(obj_terms) / (num_pos + num_neg)

        # Box and class terms concern only the anchors holding an object.
        weight, (pred_box, true_box, cls_logits, cls_true) = self._positives(
            object_mask, pred_box, true_box, cls_logits, cls_true
        )
        ciou = box_ciou(pred_box, true_box)
        box_loss = tf.reduce_sum(weight * (1.0 - ciou)) * self.box_ratio / num_pos

        if self.label_smoothing:
            cls_true = (
                cls_true * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
            )
        cls_bce = _bce_with_logits(cls_true, cls_logits)
        cls_loss = tf.reduce_sum(weight[:, None] * cls_bce) / num_pos / self.num_classes
        return box_loss, obj_loss, cls_loss

    def _positives(
        self, object_mask: tf.Tensor, *tensors: tf.Tensor
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Flatten (B, H, W, A, k) tensors to (P, k) rows, with each row's weight (P,).

        With dynamic shapes the rows are the anchors holding an object (a few dozen of the
        ~10^4-10^5 anchors of a batch), so the CIoU and class terms and their gradients cost
        next to nothing; with static shapes (XLA) every anchor is a row, weighted by its mask.
        """
        if self.static_shapes:
            return (
                tf.reshape(object_mask, [-1]),
                [tf.reshape(t, [-1, t.shape[-1]]) for t in tensors],
            )
        where = tf.where(object_mask > 0)
        return tf.gather_nd(object_mask, where), [tf.gather_nd(t, where) for t in tensors]
