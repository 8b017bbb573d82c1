"""The graph's decoding, letterbox correction and NMS (nets.postprocess) reproduce the
reference's detections, given the reference's own raw outputs."""

import json

import numpy as np
import pytest
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from nets.postprocess import (
    batched_class_aware_nms,
    decode_batch,
    detect_from_outputs,
    to_image_pixels,
)
from tests.conftest import shared_path
from tests.helpers import REFERENCE_OUTPUT_KEYS, assert_matches_reference
from utils.config import load_anchors
from utils.inference.host import image_transform
from utils.inference.host import to_image_coordinates as host_to_image_coordinates


@pytest.fixture(scope="module")
def reference():
    raw = np.load(shared_path("reference", "street_v1_025_raw_outputs.npz"))
    outputs = [tf.constant(raw[k][None]) for k in REFERENCE_OUTPUT_KEYS]
    runs = json.load(open(shared_path("reference", "street_v1_025_detections.json")))["runs"]
    return outputs, runs


@pytest.mark.parametrize("run_index", [0, 1])
def test_decode_and_nms_reproduce_reference_detections(reference, run_index):
    outputs, runs = reference
    run = runs[run_index]
    boxes, _, _ = decode_batch(outputs, load_anchors(), ANCHORS_MASK, 20, (416, 416))
    assert boxes.shape == (1, 13 * 13 * 3 + 26 * 26 * 3 + 52 * 52 * 3, 4)
    transform = image_transform((1330, 1330), (416, 416), letterbox=True)
    boxes, scores, classes, valid = detect_from_outputs(
        outputs,
        load_anchors(),
        ANCHORS_MASK,
        20,
        (416, 416),
        run["confidence"],
        0.3,
        100,
        transforms=tf.constant(transform[None]),
    )
    n = int(valid[0])
    boxes, scores, classes = boxes[0, :n].numpy(), scores[0, :n].numpy(), classes[0, :n].numpy()
    assert_matches_reference(boxes, scores, classes, run["detections"])
    assert np.all(np.diff(scores) <= 0), "sorted by descending score"


def test_decoded_boxes_are_x1_y1_x2_y2():
    """One anchor of a 1x1 grid with zero logits: a box centred on the input, the anchor's size."""
    num_classes, mask = 1, [[0, 1, 2]]
    anchors = np.array([[100.0, 50.0], [10, 10], [10, 10]], np.float32)
    output = tf.zeros((1, 1, 1, 3 * (5 + num_classes)))
    boxes, objectness, _ = decode_batch([output], anchors, mask, num_classes, (64, 128))
    np.testing.assert_allclose(boxes[0, 0], [64 - 50, 32 - 25, 64 + 50, 32 + 25], atol=1e-4)
    np.testing.assert_allclose(objectness, 0.5)


def test_transform_maps_canvas_back_to_image_as_the_host_does():
    # A 200x100 image letterboxed into 416x416 occupies rows 104..312: the canvas box covering
    # it exactly maps back to the full image.
    letterbox = image_transform((200, 100), (416, 416), letterbox=True)
    plain = image_transform((200, 100), (416, 416), letterbox=False)
    for transform, canvas_box in (
        (letterbox, [0.0, 104.0, 416.0, 312.0]),
        (plain, [0, 0, 416, 416]),
    ):
        boxes = tf.constant([[canvas_box, [10.0, 20.0, 30.0, 50.0]]], tf.float32)
        graph = to_image_pixels(boxes, tf.constant(transform[None])).numpy()[0]
        np.testing.assert_allclose(graph[0], [0, 0, 200, 100], atol=1e-4)
        host = host_to_image_coordinates(boxes.numpy()[0], transform)
        np.testing.assert_allclose(graph, host, atol=1e-4)


def test_nms_is_per_class_capped_and_threshold_inclusive():
    boxes = tf.constant(
        [[[0, 0, 10, 10], [0, 0, 9, 10], [50, 50, 60, 60], [0, 0, 10, 10]]], tf.float32
    )
    # Box 1 overlaps box 0 (IoU 0.9) in class 0 -> suppressed; box 3 overlaps box 0 but is
    # class 1 only -> kept; box 2 scores exactly the threshold -> kept.
    scores = tf.constant([[[0.9, 0.0], [0.8, 0.0], [0.5, 0.0], [0.0, 0.7]]], tf.float32)
    kept_boxes, kept_scores, kept_classes, valid = batched_class_aware_nms(
        boxes, scores, 0.5, 0.3, 100
    )
    n = int(valid[0])
    np.testing.assert_allclose(kept_scores[0, :n], [0.9, 0.7, 0.5])
    assert kept_classes[0, :n].numpy().tolist() == [0, 1, 0]
    np.testing.assert_allclose(kept_boxes[0, 2], [50, 50, 60, 60])
    _, capped, _, valid = batched_class_aware_nms(boxes, scores, 0.5, 0.3, 2)
    np.testing.assert_allclose(capped[0, : int(valid[0])], [0.9, 0.7])
    # A box scoring for two classes is reported once per class (multi-label, like the reference).
    _, _, both, valid = batched_class_aware_nms(
        boxes[:, :1], tf.constant([[[0.6, 0.7]]]), 0.5, 0.3, 100
    )
    assert sorted(both[0, : int(valid[0])].numpy().tolist()) == [0, 1]
