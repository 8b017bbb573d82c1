"""YOLO training targets: each ground-truth box goes to one anchor, one cell, one output level.

Follows the reference's rule: the anchor is the best of all nine by IoU of
centred boxes (width and height only); the box lands on the level that owns that anchor, in cell
(floor(cx * W_l), floor(cy * H_l)). Two differences, both deliberate:
- the centre is the exact (x1 + x2) / 2, not the reference's floor of it (an artefact of its
  integer boxes);
- when two boxes claim the same slot the later one replaces the whole slot, class bit included
  (the reference leaves the earlier class bit set, giving a two-hot class target).
Vectorised NumPy, run inside the pipeline's numpy_function: about 60 µs an image, against about
800 µs for the same rule in TF ops called per image (benchmarks/bench_pipeline.py --details).
"""

import numpy as np

from nets.anchors import ANCHORS_MASK, STRIDES

# Ground-truth boxes per image handed to the loss (for its ignore mask), zero-padded.
MAX_GT_BOXES = 100


def target_shapes(input_size, num_classes, anchors_mask=ANCHORS_MASK):
    """Shapes (H_l, W_l, anchors per level, 5 + C) of y_true for each output level."""
    height, width = input_size
    return [
        (height // s, width // s, len(mask), 5 + num_classes)
        for s, mask in zip(STRIDES, anchors_mask)
    ]


def _best_anchor(wh, anchors):
    """Index of the anchor with the highest centred IoU for each (w, h)."""
    inter = np.minimum(wh[:, None, :], anchors[None, :, :]).prod(-1)
    union = wh.prod(-1)[:, None] + anchors.prod(-1)[None, :] - inter
    return np.argmax(inter / union, axis=1)


def assign_targets(boxes, class_ids, input_size, anchors, num_classes, anchors_mask=ANCHORS_MASK):
    """y_true arrays for one image.

    boxes: (N, 4) [x1, y1, x2, y2] in input pixels; class_ids: (N,) ints; input_size: (height,
    width); anchors: (9, 2) (w, h) in input pixels. Returns a list, one float32 array per level
    in output order, each (H_l, W_l, 3, 5 + C) holding normalised (cx, cy, w, h), objectness 1
    and the one-hot class in the slots that own a box, zeros elsewhere.
    """
    height, width = input_size
    shapes = target_shapes(input_size, num_classes, anchors_mask)
    y_true = [np.zeros(shape, np.float32) for shape in shapes]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    class_ids = np.asarray(class_ids, np.int64).reshape(-1)
    wh = boxes[:, 2:4] - boxes[:, 0:2]
    keep = (wh > 0).all(axis=1)
    if not keep.any():
        return y_true
    boxes, class_ids, wh = boxes[keep], class_ids[keep], wh[keep]
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
    norm = np.concatenate([centre, wh], axis=1) / np.array(
        [width, height, width, height], np.float32
    )

    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    level_of = np.full(len(anchors), -1)
    slot_of = np.zeros(len(anchors), np.int64)
    for level, mask in enumerate(anchors_mask):
        level_of[list(mask)] = level
        slot_of[list(mask)] = np.arange(len(mask))
    best = _best_anchor(wh, anchors)

    rows = np.zeros((len(boxes), 5 + num_classes), np.float32)
    rows[:, 0:4] = norm
    rows[:, 4] = 1.0
    rows[np.arange(len(boxes)), 5 + class_ids] = 1.0
    for level, (grid_h, grid_w, _, _) in enumerate(shapes):
        on_level = np.nonzero(level_of[best] == level)[0]
        if on_level.size == 0:
            continue
        gx = np.clip(np.floor(norm[on_level, 0] * grid_w).astype(np.int64), 0, grid_w - 1)
        gy = np.clip(np.floor(norm[on_level, 1] * grid_h).astype(np.int64), 0, grid_h - 1)
        slot = slot_of[best[on_level]]
        # Keep the last box for each slot, so a later box replaces an earlier one deterministically.
        flat = np.ravel_multi_index((gy, gx, slot), shapes[level][:3])
        _, last_from_end = np.unique(flat[::-1], return_index=True)
        winners = len(flat) - 1 - last_from_end
        y_true[level][gy[winners], gx[winners], slot[winners]] = rows[on_level[winners]]
    return y_true


def padded_gt_boxes(boxes, input_size, max_boxes=MAX_GT_BOXES):
    """All boxes as normalised (cx, cy, w, h), zero-padded/truncated to (max_boxes, 4) float32."""
    height, width = input_size
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)[:max_boxes]
    out = np.zeros((max_boxes, 4), np.float32)
    if len(boxes):
        centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
        wh = boxes[:, 2:4] - boxes[:, 0:2]
        out[: len(boxes)] = np.concatenate([centre, wh], 1) / np.array(
            [width, height, width, height]
        )
    return out
