"""Assertions shared by several test modules (test modules import helpers from here, never from
one another)."""

import numpy as np

# The reference's raw output arrays in ``street_v1_025_raw_outputs.npz``, in yolo_body's order.
REFERENCE_OUTPUT_KEYS = ("p5_13x13", "p4_26x26", "p3_52x52")


def assert_clean_failure(result, *fragments):
    """Non-zero exit, no traceback, a one-line error naming what went wrong."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def reference_boxes_xyxy(detections):
    """The reference stores [top, left, bottom, right]."""
    return np.array(
        [[d["box"][1], d["box"][0], d["box"][3], d["box"][2]] for d in detections], np.float32
    ).reshape(-1, 4)


def pairwise_iou(boxes_a, boxes_b):
    """IoU of every (N, 4) box with every (M, 4) box, all [x1, y1, x2, y2]: an (N, M) array.

    Computed here in NumPy so the oracle does not depend on the code it checks.
    """
    a = np.asarray(boxes_a, np.float32).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, np.float32).reshape(-1, 4)[None, :, :]
    inter = np.prod(
        np.maximum(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0.0),
        axis=-1,
    )
    area_a = np.prod(np.maximum(a[..., 2:] - a[..., :2], 0.0), axis=-1)
    area_b = np.prod(np.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def assert_matches_reference(boxes, scores, classes, reference, min_iou=0.98, score_tol=0.01):
    """Same number of detections; each reference box has a same-class match (IoU, score)."""
    assert len(scores) == len(reference)
    ref_boxes = reference_boxes_xyxy(reference)
    iou = pairwise_iou(ref_boxes, boxes) if len(reference) else np.zeros((0, 0))
    used = set()
    for i, det in enumerate(reference):
        candidates = [
            j for j in np.argsort(-iou[i]) if classes[j] == det["class_id"] and j not in used
        ]
        assert candidates, f"no match for {det}"
        j = candidates[0]
        used.add(j)
        assert iou[i, j] >= min_iou, (det, boxes[j], iou[i, j])
        assert abs(scores[j] - det["score"]) <= score_tol, (det, scores[j])
