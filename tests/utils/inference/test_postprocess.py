"""Decoding, letterbox correction and NMS reproduce the reference from its own raw outputs."""

import json

import numpy as np
import pytest
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from tests.conftest import shared_path
from utils.config import load_anchors
from utils.inference.host import image_transform
from utils.inference.postprocess import (
    box_iou,
    class_aware_nms,
    decode_outputs,
    to_image_coordinates,
    yxyx_to_xyxy,
)

KEYS = ("p5_13x13", "p4_26x26", "p3_52x52")


def reference_boxes_xyxy(detections):
    """The reference stores [top, left, bottom, right]."""
    return np.array(
        [[d["box"][1], d["box"][0], d["box"][3], d["box"][2]] for d in detections], np.float32
    ).reshape(-1, 4)


def assert_matches_reference(boxes, scores, classes, reference, min_iou=0.98, score_tol=0.01):
    """Same number of detections; each reference box has a same-class match (IoU, score)."""
    assert len(scores) == len(reference)
    ref_boxes = reference_boxes_xyxy(reference)
    iou = np.asarray(box_iou(ref_boxes, boxes)) if len(reference) else np.zeros((0, 0))
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


@pytest.fixture(scope="module")
def reference():
    raw = np.load(shared_path("reference", "street_v1_025_raw_outputs.npz"))
    outputs = [tf.constant(raw[k][None]) for k in KEYS]
    runs = json.load(open(shared_path("reference", "street_v1_025_detections.json")))["runs"]
    return outputs, runs


@pytest.mark.parametrize("run_index", [0, 1])
def test_decode_and_nms_reproduce_reference_detections(reference, run_index):
    outputs, runs = reference
    run = runs[run_index]
    boxes, objectness, class_probs = decode_outputs(
        outputs, load_anchors(), ANCHORS_MASK, 20, (416, 416)
    )
    assert boxes.shape == (13 * 13 * 3 + 26 * 26 * 3 + 52 * 52 * 3, 4)
    transform = image_transform((1330, 1330), (416, 416), letterbox=True)
    boxes = to_image_coordinates(boxes, transform)
    boxes, scores, classes = class_aware_nms(
        boxes, objectness[:, None] * class_probs, run["confidence"], 0.3, 100
    )
    assert_matches_reference(
        np.asarray(yxyx_to_xyxy(boxes)), scores.numpy(), classes.numpy(), run["detections"]
    )
    assert np.all(np.diff(scores.numpy()) <= 0), "sorted by descending score"


def test_transform_maps_canvas_back_to_image():
    # A 200x100 image letterboxed into 416x416 occupies rows 104..312: the canvas box covering
    # it exactly maps back to the full image.
    transform = image_transform((200, 100), (416, 416), letterbox=True)
    canvas_box = tf.constant([[104.0, 0.0, 312.0, 416.0]])
    np.testing.assert_allclose(
        to_image_coordinates(canvas_box, transform), [[0, 0, 100, 200]], atol=1e-4
    )
    plain = image_transform((200, 100), (416, 416), letterbox=False)
    np.testing.assert_allclose(
        to_image_coordinates(tf.constant([[0.0, 0.0, 416.0, 416.0]]), plain),
        [[0, 0, 100, 200]],
        atol=1e-4,
    )


def test_nms_is_per_class_capped_and_threshold_inclusive():
    boxes = tf.constant(
        [[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60], [0, 0, 10, 10]], tf.float32
    )
    # Box 1 overlaps box 0 (IoU 0.9) in class 0 -> suppressed; box 3 overlaps box 0 but is
    # class 1 only -> kept; box 2 scores exactly the threshold -> kept.
    scores = tf.constant([[0.9, 0.0], [0.8, 0.0], [0.5, 0.0], [0.0, 0.7]], tf.float32)
    kept_boxes, kept_scores, kept_classes = class_aware_nms(boxes, scores, 0.5, 0.3, 100)
    np.testing.assert_allclose(kept_scores, [0.9, 0.7, 0.5])
    assert kept_classes.numpy().tolist() == [0, 1, 0]
    np.testing.assert_allclose(kept_boxes[2], [50, 50, 60, 60])
    _, capped, _ = class_aware_nms(boxes, scores, 0.5, 0.3, 2)
    np.testing.assert_allclose(capped, [0.9, 0.7])
    # A box scoring for two classes is reported once per class (multi-label, like the reference).
    _, _, both = class_aware_nms(boxes[:1], tf.constant([[0.6, 0.7]]), 0.5, 0.3, 100)
    assert sorted(both.numpy().tolist()) == [0, 1]


def test_box_iou():
    iou = box_iou(
        np.array([[0, 0, 10, 10]], np.float32),
        np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32),
    )
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]], atol=1e-6)
