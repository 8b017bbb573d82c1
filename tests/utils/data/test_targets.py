"""Target assignment: each box in the right level, cell and anchor slot."""

import numpy as np

from nets.anchors import ANCHORS_MASK, STRIDES
from utils.config import load_anchors
from utils.data.targets import MAX_GT_BOXES, assign_targets, padded_gt_boxes, target_shapes

ANCHORS = load_anchors()  # the project's default anchors (w, h at 416)


def direct_targets(boxes, class_ids, input_size, anchors, num_classes):
    """Box-by-box loop written straight from the rule, for comparison with the vectorised code."""
    height, width = input_size
    out = [np.zeros(s, np.float32) for s in target_shapes(input_size, num_classes)]
    for (x1, y1, x2, y2), cls in zip(boxes, class_ids):
        w, h = x2 - x1, y2 - y1
        ious = []
        for aw, ah in anchors:
            inter = min(w, aw) * min(h, ah)
            ious.append(inter / (w * h + aw * ah - inter))
        best = int(np.argmax(ious))
        level = next(lv for lv, mask in enumerate(ANCHORS_MASK) if best in mask)
        slot = ANCHORS_MASK[level].index(best)
        grid_h, grid_w = height // STRIDES[level], width // STRIDES[level]
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        col, row = int(np.floor(cx * grid_w)), int(np.floor(cy * grid_h))
        out[level][row, col, slot] = 0
        out[level][row, col, slot, :5] = [cx, cy, w / width, h / height, 1]
        out[level][row, col, slot, 5 + cls] = 1
    return out


def test_hand_made_box_lands_in_p4_cell_and_anchor():
    # A 100x60 box centred at (200, 120) on 416x416: best anchor is 76x55 (index 4, IoU 0.70),
    # owned by P4 (mask (3, 4, 5)) as its slot 1; the 26x26 cell is (col 12, row 7).
    y_true = assign_targets(
        np.array([[150, 90, 250, 150]], np.float32), np.array([2]), (416, 416), ANCHORS, 3
    )
    assert [t.shape for t in y_true] == [(13, 13, 3, 8), (26, 26, 3, 8), (52, 52, 3, 8)]
    np.testing.assert_allclose(
        y_true[1][7, 12, 1], [200 / 416, 120 / 416, 100 / 416, 60 / 416, 1, 0, 0, 1], rtol=1e-6
    )
    assert sum(float(t[..., 4].sum()) for t in y_true) == 1.0


def test_vectorised_assignment_equals_direct_loop_on_random_boxes():
    rng = np.random.default_rng(0)
    input_size = (320, 416)  # non-square, to catch swapped width/height
    for _ in range(20):
        n = rng.integers(1, 40)
        xy = rng.uniform(0, [400, 300], size=(n, 2))
        wh = rng.uniform(3, 300, size=(n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [416, 320])], 1).astype(np.float32)
        ids = rng.integers(0, 5, n)
        got = assign_targets(boxes, ids, input_size, ANCHORS, 5)
        want = direct_targets(boxes, ids, input_size, ANCHORS, 5)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-6)


def test_later_box_replaces_the_whole_slot():
    # Two same-sized boxes in the same cell: the second one wins, class bit included.
    boxes = np.array([[100, 100, 140, 130], [101, 101, 141, 131]], np.float32)
    y_true = assign_targets(boxes, np.array([0, 1]), (416, 416), ANCHORS, 2)
    slot = np.argwhere(y_true[2][..., 4] > 0)
    assert len(slot) == 1
    row, col, k = slot[0]
    np.testing.assert_allclose(y_true[2][row, col, k, 5:], [0, 1])
    np.testing.assert_allclose(y_true[2][row, col, k, 0], 121 / 416, rtol=1e-6)


def test_empty_and_degenerate_boxes_give_empty_targets():
    for boxes in (np.zeros((0, 4)), np.array([[10, 10, 10, 50]])):
        y_true = assign_targets(boxes, np.zeros(len(boxes), int), (256, 256), ANCHORS, 1)
        assert all(not t.any() for t in y_true)


def test_box_touching_the_bottom_right_edge_stays_in_the_grid():
    y_true = assign_targets(
        np.array([[410, 410, 416, 416]], np.float32), [0], (416, 416), ANCHORS, 1
    )
    assert y_true[2][51, 51, 0, 4] == 1


def test_padded_gt_boxes_normalises_pads_and_truncates():
    gt = padded_gt_boxes(np.array([[0, 0, 208, 104]], np.float32), (208, 416))
    assert gt.shape == (MAX_GT_BOXES, 4) and gt.dtype == np.float32
    np.testing.assert_allclose(gt[0], [0.25, 0.25, 0.5, 0.5])
    assert not gt[1:].any()
    many = np.tile(np.array([[0, 0, 10, 10]], np.float32), (MAX_GT_BOXES + 20, 1))
    assert padded_gt_boxes(many, (416, 416)).shape == (MAX_GT_BOXES, 4)
