"""Host (NumPy/OpenCV) decoding and NMS give the graph's detections, on the reference's own raw
head outputs."""

import json

import numpy as np
import pytest

from nets.anchors import ANCHORS_MASK
from tests.conftest import shared_path
from tests.helpers import REFERENCE_OUTPUT_KEYS, assert_matches_reference
from utils.config import load_anchors
from utils.inference.host import class_aware_nms, decode_raw, image_transform, to_image_coordinates


@pytest.fixture(scope="module")
def raw_outputs():
    raw = np.load(shared_path("reference", "street_v1_025_raw_outputs.npz"))
    runs = json.load(open(shared_path("reference", "street_v1_025_detections.json")))["runs"]
    return [raw[k] for k in REFERENCE_OUTPUT_KEYS], runs


def _host_detections(outputs, conf, nms_iou=0.3, max_boxes=100):
    """As the runtime detector: decode, map to image pixels, then suppress there."""
    boxes, scores = decode_raw(outputs, load_anchors(), ANCHORS_MASK, 20, (416, 416))
    transform = image_transform((1330, 1330), (416, 416), letterbox=True)
    boxes = to_image_coordinates(boxes, transform)
    return class_aware_nms(boxes, scores, conf, nms_iou, max_boxes)


@pytest.mark.parametrize("run_index", [0, 1])
def test_host_path_reproduces_reference_detections(raw_outputs, run_index):
    outputs, runs = raw_outputs
    run = runs[run_index]
    boxes, scores, classes = _host_detections(outputs, run["confidence"])
    assert_matches_reference(boxes, scores, classes, run["detections"])
    assert np.all(np.diff(scores) <= 0) and classes.dtype == np.int32


@pytest.mark.parametrize("letterbox", [True, False], ids=["letterbox", "plain-resize"])
def test_host_path_equals_the_graph_at_evaluation_settings(raw_outputs, letterbox):
    """conf 0.001 / NMS 0.5 (get_map's): hundreds of boxes, the same as the TensorFlow graph's,
    also where a plain resize scales x and y differently (both suppress in image pixels)."""
    import tensorflow as tf

    from nets.postprocess import detect_from_outputs

    outputs, _ = raw_outputs
    transform = image_transform((1330, 700), (416, 416), letterbox=letterbox)
    host_boxes, host_scores, host_classes = class_aware_nms(
        *_decoded_in_image(outputs, transform), 0.001, 0.5, 300
    )
    g_boxes, g_scores, g_classes, valid = detect_from_outputs(
        [tf.constant(o[None]) for o in outputs],
        load_anchors(),
        ANCHORS_MASK,
        20,
        (416, 416),
        0.001,
        0.5,
        300,
        transforms=tf.constant(transform[None]),
    )
    n = int(valid[0])
    g_boxes, g_scores, g_classes = (
        g_boxes[0, :n].numpy(),
        g_scores[0, :n].numpy(),
        g_classes[0, :n].numpy(),
    )
    assert len(host_scores) == len(g_scores) > 100
    np.testing.assert_allclose(np.sort(host_scores), np.sort(g_scores), atol=1e-5)
    order_h = np.lexsort((host_boxes[:, 0], host_classes, -host_scores))
    order_g = np.lexsort((g_boxes[:, 0], g_classes, -g_scores))
    np.testing.assert_array_equal(host_classes[order_h], g_classes[order_g])
    np.testing.assert_allclose(host_boxes[order_h], g_boxes[order_g], atol=0.05)


def _decoded_in_image(outputs, transform):
    boxes, scores = decode_raw(outputs, load_anchors(), ANCHORS_MASK, 20, (416, 416))
    return to_image_coordinates(boxes, transform), scores


def test_caps_per_class_and_in_total():
    boxes = np.array([[i * 10, 0, i * 10 + 5, 5] for i in range(6)], np.float32)  # disjoint
    scores = np.zeros((6, 2), np.float32)
    scores[:4, 0] = [0.9, 0.8, 0.7, 0.6]
    scores[4:, 1] = [0.95, 0.5]
    b, s, c = class_aware_nms(boxes, scores, 0.1, 0.5, 3)
    assert s.tolist() == pytest.approx([0.95, 0.9, 0.8]) and c.tolist() == [1, 0, 0]
    b, s, c = class_aware_nms(boxes, scores, 0.1, 0.5, 10)
    assert len(s) == 6
    assert class_aware_nms(boxes, scores, 0.99, 0.5, 10)[1].shape == (0,)


def test_overlapping_boxes_of_one_class_are_suppressed_not_of_two():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], np.float32)  # IoU 0.68
    scores = np.array([[0.9, 0.0], [0.8, 0.0]], np.float32)
    assert len(class_aware_nms(boxes, scores, 0.1, 0.5, 10)[1]) == 1
    scores = np.array([[0.9, 0.0], [0.0, 0.8]], np.float32)
    assert len(class_aware_nms(boxes, scores, 0.1, 0.5, 10)[1]) == 2
