"""The YOLO loss: CIoU, the ignore mask against all ground truths, the parts and their weights."""

import math

import numpy as np
import pytest
import tensorflow as tf

from nets.anchors import ANCHORS_MASK, STRIDES
from nets.loss import YoloLoss, box_ciou, box_iou_cxcywh, compact_boxes
from utils.config import load_anchors

SIZE = 128
ANCHORS = load_anchors()


def _empty_batch(batch=1, num_classes=2):
    y_true = [
        np.zeros((batch, SIZE // s, SIZE // s, 3, 5 + num_classes), np.float32) for s in STRIDES
    ]
    raw = [
        np.zeros((batch, SIZE // s, SIZE // s, 3 * (5 + num_classes)), np.float32) for s in STRIDES
    ]
    return y_true, raw, np.zeros((batch, 100, 4), np.float32)


def _place(y_true, gt, b, box, cls, level, anchor_slot, num_classes=2):
    """Put one normalised (cx, cy, w, h) box into the targets like the reference assigns it."""
    grid = SIZE // STRIDES[level]
    i, j = int(box[1] * grid), int(box[0] * grid)
    y_true[level][b, i, j, anchor_slot, :4] = box
    y_true[level][b, i, j, anchor_slot, 4] = 1
    y_true[level][b, i, j, anchor_slot, 5 + cls] = 1
    slot = int((gt[b, :, 2] > 0).sum())
    gt[b, slot] = box
    return i, j


def _raw_for_box(box, level, anchor_slot, i, j, num_classes=2):
    """Logits that decode exactly to ``box`` in cell (i, j)."""
    grid = SIZE // STRIDES[level]
    anchor = ANCHORS[ANCHORS_MASK[level][anchor_slot]] / SIZE
    fx, fy = box[0] * grid - j, box[1] * grid - i
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return [logit(fx), logit(fy), math.log(box[2] / anchor[0]), math.log(box[3] / anchor[1])]


def _set_raw(raw, level, b, i, j, slot, values, num_classes=2):
    start = slot * (5 + num_classes)
    raw[level][b, i, j, start : start + len(values)] = values


def test_ciou_is_one_for_identical_boxes_and_penalises_distance_and_shape():
    box = tf.constant([[0.5, 0.5, 0.2, 0.4]])
    assert float(box_ciou(box, box)[0]) == pytest.approx(1.0, abs=1e-6)
    shifted = tf.constant([[0.6, 0.5, 0.2, 0.4]])
    iou = float(box_iou_cxcywh(box, shifted)[0])
    assert iou == pytest.approx(0.1 * 0.4 / (0.3 * 0.4), rel=1e-5)
    # Same shape: CIoU = IoU - rho^2 / c^2 with c the enclosing box's diagonal.
    expected = iou - 0.1**2 / (0.3**2 + 0.4**2)
    assert float(box_ciou(box, shifted)[0]) == pytest.approx(expected, rel=1e-5)
    # Another aspect ratio at the same centre adds the alpha * v term.
    wide = tf.constant([[0.5, 0.5, 0.4, 0.2]])
    iou = 0.2 * 0.2 / (0.08 + 0.08 - 0.04)
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0)) ** 2
    alpha = v / (1 - iou + v)
    assert float(box_ciou(box, wide)[0]) == pytest.approx(iou - 0 - alpha * v, rel=1e-5)
    far = tf.constant([[0.9, 0.9, 0.05, 0.05]])
    assert float(box_ciou(box, far)[0]) < 0


def test_compact_boxes_keeps_every_real_box_in_order():
    gt = np.zeros((2, 100, 4), np.float32)
    gt[0, 3] = [0.1, 0.1, 0.1, 0.1]
    gt[0, 7] = [0.2, 0.2, 0.2, 0.2]
    gt[1, 0] = [0.3, 0.3, 0.3, 0.3]
    out = compact_boxes(tf.constant(gt)).numpy()
    assert out.shape == (2, 2, 4)
    np.testing.assert_allclose(out[0], gt[0, [3, 7]])
    np.testing.assert_allclose(out[1, 0], gt[1, 0])
    assert not out[1, 1].any()


def test_perfect_prediction_has_small_loss_and_random_prediction_large():
    y_true, raw, gt = _empty_batch()
    box = np.array([0.4, 0.55, 0.3, 0.25], np.float32)
    i, j = _place(y_true, gt, 0, box, cls=1, level=1, anchor_slot=1)
    loss = YoloLoss(ANCHORS, 2)
    # Background everywhere, the right box, objectness and class at the assigned slot.
    good = [np.full_like(r, 0.0) for r in raw]
    for r in good:
        r.reshape(r.shape[:3] + (3, 7))[..., 4] = -12.0
        r.reshape(r.shape[:3] + (3, 7))[..., 5:] = -12.0
    _set_raw(good, 1, 0, i, j, 1, _raw_for_box(box, 1, 1, i, j) + [12.0, -12.0, 12.0])
    parts = {k: float(v) for k, v in loss(y_true, good, gt).items()}
    assert parts["box"] == pytest.approx(0.0, abs=1e-5)
    assert parts["cls"] < 1e-4 and parts["obj"] < 1e-3
    assert parts["total"] == pytest.approx(parts["box"] + parts["obj"] + parts["cls"], rel=1e-6)
    rng = np.random.default_rng(0)
    noisy = [rng.normal(0, 1, r.shape).astype(np.float32) for r in raw]
    bad = {k: float(v) for k, v in loss(y_true, noisy, gt).items()}
    assert bad["box"] > 0.01 and bad["obj"] > 1.0 and bad["cls"] > 1e-3


def _obj_gradient(loss, y_true, raw, gt):
    raw = [tf.constant(r) for r in raw]
    with tf.GradientTape() as tape:
        tape.watch(raw)
        total = loss(y_true, raw, gt)["total"]
    return [
        g.numpy().reshape(tuple(g.shape[:3]) + (3, -1))[..., 4] for g in tape.gradient(total, raw)
    ]


def test_ignore_mask_spares_predictions_overlapping_any_ground_truth():
    """A P3 prediction matching a box assigned to P5 is not pushed towards background (the
    reference compares only with the GTs of the same level and would push it)."""
    y_true, raw, gt = _empty_batch()
    box = np.array([0.52, 0.52, 0.6, 0.6], np.float32)
    _place(y_true, gt, 0, box, cls=0, level=0, anchor_slot=2)
    # A P3 prediction in cell (8, 8) decoding to almost the same box; another far away.
    raw_p3 = _raw_for_box(box, 2, 2, 8, 8)
    _set_raw(raw, 2, 0, 8, 8, 2, raw_p3 + [3.0])
    _set_raw(raw, 2, 0, 1, 1, 2, [0.0, 0.0, 0.0, 0.0, 3.0])
    grads = _obj_gradient(YoloLoss(ANCHORS, 2), y_true, raw, gt)
    assert grads[2][0, 8, 8, 2] == 0.0  # ignored: overlaps the P5 ground truth
    assert grads[2][0, 1, 1, 2] > 0.0  # a true negative is pushed down
    # Without the ground truth in gt_boxes the same prediction is a negative again.
    grads = _obj_gradient(YoloLoss(ANCHORS, 2), y_true, raw, np.zeros_like(gt))
    assert grads[2][0, 8, 8, 2] > 0.0


def test_level_balance_ratios_and_label_smoothing():
    y_true, raw, gt = _empty_batch()
    base = YoloLoss(ANCHORS, 2)(y_true, raw, gt)
    # All logits zero, no objects: obj BCE = log 2 per negative, summed per level and divided by
    # num_pos (at least 1) + num_neg, weighted by balance [0.4, 1, 4] and 5 * (128 * 128) / 416^2.
    counts = [(SIZE // s) ** 2 * 3 for s in STRIDES]
    expected = (
        sum(b * math.log(2) * n / (n + 1) for b, n in zip((0.4, 1.0, 4.0), counts))
        * 5
        * SIZE
        * SIZE
        / 416**2
    )
    assert float(base["obj"]) == pytest.approx(expected, rel=1e-5)
    assert float(base["box"]) == 0.0 and float(base["cls"]) == 0.0

    box = np.array([0.5, 0.5, 0.3, 0.3], np.float32)
    i, j = _place(y_true, gt, 0, box, cls=0, level=1, anchor_slot=0)
    _set_raw(raw, 1, 0, i, j, 0, [0, 0, 0, 0, 0, 20.0, -20.0])
    plain = float(YoloLoss(ANCHORS, 2)(y_true, raw, gt)["cls"])
    smooth = float(YoloLoss(ANCHORS, 2, label_smoothing=0.2)(y_true, raw, gt)["cls"])
    assert plain < 1e-6
    # Targets 0.9 / 0.1: BCE(20, 0.9) + BCE(-20, 0.1) = 2 * 0.1 * 20 (+tiny), / C=2 * C/80.
    assert smooth == pytest.approx(2 * 0.1 * 20 / 2 * 2 / 80, rel=1e-3)


def test_focal_loss_down_weights_easy_negatives():
    y_true, raw, gt = _empty_batch()
    for r in raw:
        r.reshape(r.shape[:3] + (3, 7))[..., 4] = -4.0  # confident, correct background
    plain = float(YoloLoss(ANCHORS, 2)(y_true, raw, gt)["obj"])
    focal = float(YoloLoss(ANCHORS, 2, focal_loss=True)(y_true, raw, gt)["obj"])
    p = 1 / (1 + math.exp(4))
    assert focal == pytest.approx(plain * p**2 * 0.75 * 10, rel=1e-4)


@pytest.mark.slow
def test_loss_compiles_with_xla_and_matches_eager():
    y_true, raw, gt = _empty_batch(batch=2)
    rng = np.random.default_rng(1)
    _place(y_true, gt, 0, np.array([0.3, 0.3, 0.2, 0.3], np.float32), 0, 1, 0)
    _place(y_true, gt, 1, np.array([0.6, 0.5, 0.7, 0.6], np.float32), 1, 0, 2)
    raw = [rng.normal(0, 1, r.shape).astype(np.float32) for r in raw]
    loss = YoloLoss(ANCHORS, 2, static_shapes=True)
    eager = loss(y_true, raw, gt)
    compiled = tf.function(lambda *a: loss(*a), jit_compile=True)(y_true, raw, gt)
    compact = YoloLoss(ANCHORS, 2)(y_true, raw, gt)
    for key in ("box", "obj", "cls", "total"):
        assert float(compiled[key]) == pytest.approx(float(eager[key]), rel=1e-4)
        assert float(compact[key]) == pytest.approx(float(eager[key]), rel=1e-5)


def test_positive_anchor_rows_give_the_dense_loss_and_gradients():
    """The default loss gathers the positive anchors for its box and class terms; the
    static-shape form weights every anchor by its mask: same values, same gradients."""
    y_true, raw, gt = _empty_batch(batch=2)
    rng = np.random.default_rng(3)
    _place(y_true, gt, 0, np.array([0.3, 0.3, 0.2, 0.3], np.float32), 0, 1, 0)
    _place(y_true, gt, 0, np.array([0.7, 0.2, 0.5, 0.4], np.float32), 1, 0, 1)
    _place(y_true, gt, 1, np.array([0.6, 0.5, 0.1, 0.1], np.float32), 1, 2, 2)
    raw = [tf.constant(rng.normal(0, 1, r.shape).astype(np.float32)) for r in raw]

    def loss_and_gradients(loss):
        with tf.GradientTape() as tape:
            tape.watch(raw)
            parts = loss(y_true, raw, gt)
        return parts, tape.gradient(parts["total"], raw)

    sparse, sparse_grads = loss_and_gradients(YoloLoss(ANCHORS, 2, label_smoothing=0.1))
    dense, dense_grads = loss_and_gradients(
        YoloLoss(ANCHORS, 2, label_smoothing=0.1, static_shapes=True)
    )
    for key in ("box", "obj", "cls", "total"):
        assert float(sparse[key]) == pytest.approx(float(dense[key]), rel=1e-6)
    assert float(sparse["box"]) > 0 and float(sparse["cls"]) > 0
    for got, want in zip(sparse_grads, dense_grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-9)
    # The box gradient reaches exactly the three positive anchors' (tx, ty, tw, th).
    box_grads = [g.numpy().reshape(g.shape[:3] + (3, 7))[..., :4] for g in sparse_grads]
    assert sum(int((np.abs(g).sum(-1) > 0).sum()) for g in box_grads) == 3
