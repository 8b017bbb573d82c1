"""The inference core reproduces the reference's detections with the real VOC weights."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from nets import WeightsMismatchError, yolo_body
from tests.conftest import shared_path
from tests.helpers import assert_matches_reference
from utils.config import load_class_names
from utils.data.images import load_image
from utils.inference.detector import Detections, Detector, detections_to_dicts


@pytest.fixture(scope="module")
def detector():
    detector = Detector.from_options(
        "mobilenetv1", 0.25, shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    )
    detector.preprocess_mode = "exact"  # the reference's pre-processing, for its outputs
    return detector


@pytest.fixture(scope="module")
def street():
    return load_image(shared_path("reference", "street.jpg"))


@pytest.fixture(scope="module")
def reference_runs():
    return json.load(open(shared_path("reference", "street_v1_025_detections.json")))["runs"]


@pytest.mark.parametrize("run_index", [0, 1], ids=["conf0.5", "conf0.05"])
def test_street_matches_reference(detector, street, reference_runs, run_index):
    run = reference_runs[run_index]
    detector.conf, detector.nms_iou = run["confidence"], 0.3
    try:
        result = detector.detect(street)
    finally:
        detector.conf, detector.nms_iou = 0.5, 0.3
    assert isinstance(result, Detections)
    assert result.boxes.dtype == np.float32 and result.class_ids.dtype == np.int32
    assert len(result) == len(run["detections"]) == (6 if run_index == 0 else 12)
    assert_matches_reference(result.boxes, result.scores, result.class_ids, run["detections"])


def test_one_graph_for_all_image_sizes_and_thresholds(detector, street):
    """Different image sizes and thresholds reuse the single traced graph."""
    detector.detect(street)
    graph = detector._detect_fn()
    traces = graph.experimental_get_tracing_count()
    detector.detect(street.resize((300, 200)))
    detector.conf = 0.2
    try:
        detector.detect(np.asarray(street.resize((500, 640))))
    finally:
        detector.conf = 0.5
    assert graph.experimental_get_tracing_count() == traces == 1


def test_array_input_equals_pil_input(detector, street):
    a = detector.detect(street)
    b = detector.detect(np.asarray(street))
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_max_boxes_caps_the_result(detector, street):
    detector.conf, detector.max_boxes = 0.05, 3
    try:
        result = detector.detect(street)
    finally:
        detector.conf, detector.max_boxes = 0.5, 100
    assert len(result) == 3 and result.scores[0] >= result.scores[-1]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_unusual_image_modes_are_detected(detector, street, tmp_path, mode):
    if mode == "I;16":
        gray = np.asarray(street.convert("L"), np.uint16) * 257
        image = Image.fromarray(gray)
    elif mode == "P":
        image = street.convert("P", palette=Image.ADAPTIVE)
    else:
        image = street.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    result = detector.detect(load_image(path))
    names = [detector.class_names[c] for c in result.class_ids]
    assert names.count("person") >= 3, names


def test_exif_rotated_jpeg_is_detected_upright(detector, street, tmp_path, reference_runs):
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CCW to display": store the pixels rotated the other way
    street.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "r.jpg", exif=exif, quality=95)
    result = detector.detect(load_image(tmp_path / "r.jpg"))
    assert_matches_reference(
        result.boxes,
        result.scores,
        result.class_ids,
        reference_runs[0]["detections"],
        min_iou=0.9,
        score_tol=0.05,
    )


def test_plain_resize_of_an_input_sized_image_equals_letterbox(detector, street):
    square = street.resize((416, 416))
    plain = Detector(detector.model, detector.class_names, letterbox=False)
    a, b = detector.detect(square), plain.detect(square)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_objectness_map_lines_up_with_detections(detector, street):
    heat = detector.objectness_map(street)
    assert heat.shape == (street.size[1], street.size[0])
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    result = detector.detect(street)
    x1, y1, x2, y2 = result.clipped_boxes(*street.size)[0].astype(int)
    assert heat[y1:y2, x1:x2].max() > 0.5 > float(np.median(heat))


@pytest.mark.slow
def test_any_size_model_and_json_records(street):
    model = yolo_body((None, None), num_classes=2, backbone="mobilenetv1", alpha=0.25)
    detector = Detector(model, ["a", "b"], input_size=(128, 160), conf=0.0, max_boxes=5)
    result = detector.detect(street)
    assert len(result) == 5
    records = detections_to_dicts(result, ["a", "b"], *street.size)
    assert set(records[0]) == {"class", "class_id", "score", "box"}
    assert all(0 <= v <= 1330 for r in records for v in r["box"])


def test_weights_for_other_class_count_raise(tmp_path):
    classes = tmp_path / "three.txt"
    classes.write_text("a\nb\nc\n")
    with pytest.raises(WeightsMismatchError, match="20 classes"):
        Detector.from_options(
            "mobilenetv1",
            0.25,
            shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
            classes_path=str(classes),
            input_size=128,
        )
    assert len(load_class_names()) == 20


def test_folded_batchnorm_model_reproduces_reference_outputs(detector):
    """from_options folds batch norms into convolutions; the outputs stay the reference's."""
    import keras

    fused = detector.inference_model
    assert fused is not detector.model
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in fused.layers)
    canvas = (
        np.asarray(
            Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB"),
            np.float32,
        )[None]
        / 255.0
    )
    reference = np.load(shared_path("reference", "street_v1_025_raw_outputs.npz"))
    for output, key in zip(fused(canvas, training=False), ("p5_13x13", "p4_26x26", "p3_52x52")):
        np.testing.assert_allclose(np.asarray(output)[0], reference[key], atol=1e-3, rtol=0)


@pytest.mark.slow
def test_unfused_detector_follows_the_live_model():
    """Training passes its live model: weight updates must show up in the next detection."""
    model = yolo_body((128, 128), num_classes=1, backbone="mobilenetv1", alpha=0.25)
    detector = Detector(model, ["x"], input_size=128, conf=0.0, max_boxes=1)
    image = np.full((128, 128, 3), 90, np.uint8)
    before = detector.detect(image).scores[0]
    head = model.get_layer("head_p3_out")
    kernel, bias = head.get_weights()
    bias[4] += 5.0  # raise the first anchor's objectness logit
    head.set_weights([kernel, bias])
    assert detector.inference_model is model
    assert detector.detect(image).scores[0] > before


def test_input_size_must_fit_a_fixed_size_model(detector):
    from utils.config import ConfigError

    with pytest.raises(ConfigError, match="416x416"):
        Detector(detector.model, detector.class_names, input_size=320)


def _voc_mini_images():
    folder = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages")
    return [load_image(os.path.join(folder, name)) for name in sorted(os.listdir(folder))]


def _box_iou(a, b):
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    return inter / ((a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter)


def test_batched_detection_equals_one_image_at_a_time(detector, street):
    """One graph run over images of different sizes gives each image's own detections."""
    images = _voc_mini_images() + [street]
    assert len({image.size for image in images}) > 2
    detector.conf = 0.05
    try:
        singles = [detector.detect(image) for image in images]
        batched = detector.detect_batch(images)
        halves = detector.detect_batch(images[:3]) + detector.detect_batch(images[3:])
    finally:
        detector.conf = 0.5
    assert sum(len(d) for d in singles) > 20
    for single, *others in zip(singles, batched, halves):
        for other in others:
            assert len(other) == len(single)
            np.testing.assert_array_equal(other.class_ids, single.class_ids)
            np.testing.assert_allclose(other.scores, single.scores, atol=1e-4)
            assert all(_box_iou(a, b) > 0.999 for a, b in zip(other.boxes, single.boxes))
    assert detector.detect_batch([]) == []


def test_evaluation_gives_the_same_map_at_any_batch_size(detector):
    from utils.data import load_voc_split
    from utils.evaluation.evaluate import evaluate_detector

    names = load_class_names()
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    samples, _ = load_voc_split(root, "test", names)
    detector.conf, detector.nms_iou = 0.001, 0.5
    try:
        results = [
            evaluate_detector(
                detector, samples, names, progress=False, batch_size=size, metric="both"
            )
            for size in (1, 2, 8)
        ]
    finally:
        detector.conf, detector.nms_iou = 0.5, 0.3
    maps = [(r["voc"]["0.5"]["mAP"], r["coco"]["stats"]) for r in results]
    assert maps[0][0] > 0.3 and maps[1] == maps[0] and maps[2] == maps[0]


def test_eager_detector_for_one_image_matches_the_reference(detector, street, reference_runs):
    """predict.py on a single image runs untraced and unfolded: the same detections and map."""
    eager = Detector.from_options(
        "mobilenetv1",
        0.25,
        shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
        fuse=False,
        traced=False,
    )
    eager.preprocess_mode = "exact"
    for run in reference_runs:
        eager.conf = run["confidence"]
        found = eager.detect(street)
        assert len(found) == len(run["detections"])
        assert_matches_reference(found.boxes, found.scores, found.class_ids, run["detections"])
    np.testing.assert_allclose(
        eager.objectness_map(street), detector.objectness_map(street), atol=1e-3
    )
