"""Exports of the real VOC weights (mobilenetv1-0.25, 416) reproduce the Keras detections in
their own runtimes: SavedModel (TensorFlow), TFLite (LiteRT) float32 / float16 / int8, ONNX."""

import os

import numpy as np
import pytest

from nets.anchors import ANCHORS_MASK
from nets.head import HEAD_LEVELS, head_layer_name
from tests.conftest import shared_path
from tests.helpers import assert_matches_reference
from utils.config import load_anchors, load_class_names
from utils.data import load_voc_split
from utils.data.images import letterbox_image, load_image
from utils.export.int8 import ONNX_FLOAT_WORST
from utils.formats import open_runtime
from utils.inference.runtime_detector import RuntimeDetector

# One fixture exports seven files at 416 (about 50 s): the full suite runs these, the fast tier not.
pytestmark = pytest.mark.slow
VOC_MINI = ("datasets", "voc_mini", "VOCdevkit")


def voc_mini_images():
    paths = []
    for year in ("VOC2007", "VOC2012"):
        root = shared_path(*VOC_MINI, year)
        samples, _ = load_voc_split(root, "test", load_class_names(), progress=False)
        paths += [s.image_path for s in samples]
    return paths


@pytest.fixture(scope="module")
def keras_detector():
    from utils.inference.detector import Detector

    return Detector.from_options(
        "mobilenetv1", 0.25, shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    )


@pytest.fixture(scope="module")
def exports(keras_detector, tmp_path_factory):
    from utils.export.exporter import export_model

    out = tmp_path_factory.mktemp("exports")
    canvases = [
        np.asarray(letterbox_image(load_image(p, apply_exif=False), (416, 416)), np.float32)[None]
        / 255.0
        for p in voc_mini_images()
    ]
    results = export_model(
        keras_detector.model,
        keras_detector.class_names,
        load_anchors(),
        ANCHORS_MASK,
        (416, 416),
        str(out),
        ["saved_model", "tflite", "onnx"],
        backbone="mobilenetv1",
        alpha=0.25,
        half=True,
        calibration=canvases,
    )
    results += export_model(
        keras_detector.model,
        keras_detector.class_names,
        load_anchors(),
        ANCHORS_MASK,
        (416, 416),
        str(out),
        ["tflite", "onnx"],
        backbone="mobilenetv1",
        alpha=0.25,
        nms=True,
    )
    return {(r.format, r.variant, "_nms" in os.path.basename(r.path)): r for r in results}


@pytest.fixture(scope="module")
def street_runs():
    import json

    return json.load(open(shared_path("reference", "street_v1_025_detections.json")))["runs"]


def _detect(path, image, conf, nms_iou=0.3):
    detector = RuntimeDetector(open_runtime(path), conf=conf, nms_iou=nms_iou)
    return detector.detect(image)


@pytest.mark.parametrize(
    "key",
    [("saved_model", "float32", False), ("tflite", "float32", False), ("onnx", "float32", False)],
    ids=lambda k: k[0],
)
def test_float_exports_reproduce_the_reference_detections(exports, street_runs, key):
    street = load_image(shared_path("reference", "street.jpg"))
    for run in street_runs:  # conf 0.5 (6 objects) and conf 0.05 (12)
        result = _detect(exports[key].path, street, run["confidence"])
        assert_matches_reference(result.boxes, result.scores, result.class_ids, run["detections"])


def test_float16_tflite_is_within_its_tolerance(exports, street_runs):
    street = load_image(shared_path("reference", "street.jpg"))
    result = _detect(exports[("tflite", "float16", False)].path, street, 0.5)
    assert_matches_reference(
        result.boxes,
        result.scores,
        result.class_ids,
        street_runs[0]["detections"],
        min_iou=0.95,
        score_tol=0.03,
    )
    assert (
        exports[("tflite", "float16", False)].size_mb
        < 0.6 * exports[("tflite", "float32", False)].size_mb
    )


def test_nms_graphs_give_the_reference_detections(exports, street_runs):
    """End-to-end TFLite and ONNX graphs (best class per box, offset-NMS) at conf 0.5."""
    street = load_image(shared_path("reference", "street.jpg"))
    for fmt in ("tflite", "onnx"):
        result = _detect(exports[(fmt, "float32", True)].path, street, 0.5)
        assert_matches_reference(
            result.boxes, result.scores, result.class_ids, street_runs[0]["detections"]
        )


def _match_rate(expected, got, min_iou):
    """Share of ``expected`` detections with a same-class box in ``got`` at IoU >= min_iou."""
    from tests.helpers import pairwise_iou

    if not len(expected):
        return 1.0
    if not len(got):
        return 0.0
    iou = pairwise_iou(expected.boxes, got.boxes)
    same = expected.class_ids[:, None] == got.class_ids[None, :]
    return float(np.mean(np.max(np.where(same, iou, 0.0), axis=1) >= min_iou))


@pytest.mark.parametrize("family", ["tflite", "onnx"])
def test_int8_keeps_the_confident_detections(exports, keras_detector, capsys, family):
    from utils.data.samples import Sample
    from utils.evaluation.evaluate import evaluate_data, samples_to_data

    path = exports[(family, "int8", False)].path
    int8 = RuntimeDetector(open_runtime(path), conf=0.001, nms_iou=0.5)
    runtime = int8.runtime
    # int8 everywhere but the heads' three output convolutions and a few layers TFLite's
    # debugger picks (utils/export/int8.py).
    if family == "tflite":
        # Float in and out, as the float files (the input is quantised inside).
        assert runtime.input_detail["dtype"] == np.float32
        assert all(d["dtype"] == np.float32 for d in runtime.output_details.values())
        interpreter = runtime.interpreter
        dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
        convolutions = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
        float_ones = [op for op in convolutions if dtypes[op["outputs"][0]] == np.float32]
        outputs = {d["index"] for d in runtime.output_details.values()}
        heads = [op for op in float_ones if op["outputs"][0] in outputs]
        assert len(heads) == 3 and len(convolutions) - len(float_ones) > 25
    else:  # QDQ: float in and out, int8 weights inside
        import onnx

        graph = onnx.load(path).graph
        ops = {node.op_type for node in graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        assert runtime.input_type == "tensor(float)"
        dequantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
        convolutions = [node for node in graph.node if node.op_type == "Conv"]
        float_ones = [node for node in convolutions if node.input[1] not in dequantized]
        names = [head_layer_name(level) for level in HEAD_LEVELS]
        heads = [node for node in float_ones if any(name in node.name for name in names)]
        assert len(heads) == 3 and len(float_ones) <= 3 + ONNX_FLOAT_WORST
        assert len(convolutions) - len(float_ones) > 25
    street = load_image(shared_path("reference", "street.jpg"))
    keras = keras_detector.detect(street)
    int8.conf = 0.3
    assert _match_rate(keras, int8.detect(street), 0.8) == 1.0

    # Agreement mAP@0.5: the Keras detections (score >= 0.5) as ground truth, the int8
    # detections (conf 0.001) ranked against them, over the voc_mini images.
    int8.conf = 0.001
    samples, detections = [], []
    for i, path in enumerate(voc_mini_images()):
        image = load_image(path, apply_exif=False)
        truth = keras_detector.detect(image)
        samples.append(
            Sample(
                str(i),
                path,
                image.size[0],
                image.size[1],
                truth.boxes,
                truth.class_ids,
                np.zeros(len(truth), bool),
            )
        )
        detections.append(int8.detect(image))
    data = samples_to_data(samples, detections, keras_detector.class_names)
    agreement = evaluate_data(data)["voc"]["0.5"]["mAP"]
    with capsys.disabled():
        print(
            f"\n{family} int8 agreement mAP@0.5 with the Keras detections on {len(samples)} "
            f"voc_mini images: {agreement:.3f}"
        )
    assert agreement >= 0.8


def test_every_artifact_carries_its_metadata_and_tflite_has_only_builtin_ops(exports):
    from ai_edge_litert import schema_py_generated as schema

    for result in exports.values():
        meta = open_runtime(result.path).metadata
        assert meta["class_names"] == load_class_names() and meta["input_size"] == [416, 416]
        assert meta["backbone"] == "mobilenetv1" and meta["alpha"] == 0.25
        assert meta["anchors"] == load_anchors().tolist() and meta["letterbox"] is True
        assert meta["quantization"] == result.variant
        if result.format == "tflite":
            with open(result.path, "rb") as f:
                model = schema.Model.GetRootAs(bytearray(f.read()), 0)
            codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
            custom = [c.CustomCode() for c in codes if c.CustomCode()]
            assert not custom, f"non-builtin (Flex) ops in {result.path}: {custom}"
            builtins = {max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in codes}
            assert schema.BuiltinOperator.CONV_2D in builtins


def test_saved_model_serves_detections_by_default(exports, street_runs):
    """TF Serving calls 'serving_default': uint8 images in, detections out."""
    import tensorflow as tf

    loaded = tf.saved_model.load(exports[("saved_model", "float32", False)].path)
    assert {"serve", "raw", "serving_default"} <= set(loaded.signatures)
    canvas = np.asarray(
        letterbox_image(load_image(shared_path("reference", "street.jpg")), (416, 416)), np.uint8
    )
    out = loaded.signatures["serving_default"](images=tf.constant(canvas[None]))
    assert set(out) == {"boxes", "scores", "classes", "valid"}
    assert int(out["valid"][0]) == len(street_runs[0]["detections"])  # conf 0.5, NMS 0.3


def test_get_map_on_an_export_equals_the_keras_model(exports, capsys, tmp_path):
    import json

    import get_map

    root = shared_path(*VOC_MINI, "VOC2007")
    maps = {}
    for name, weights in (
        ("keras", shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")),
        ("tflite", exports[("tflite", "float32", False)].path),
        ("onnx", exports[("onnx", "float32", False)].path),
    ):
        out = tmp_path / name
        extra = ["--backbone", "mobilenetv1", "--alpha", "0.25"] if name == "keras" else []
        code = get_map.main(
            ["--data", root, "--weights", str(weights), "--out", str(out), "--no-progress"] + extra
        )
        assert code == 0, capsys.readouterr().err
        maps[name] = json.load(open(out / "results.json"))["voc"]["0.5"]["mAP"]
    capsys.readouterr()
    assert maps["tflite"] == pytest.approx(maps["keras"], abs=0.005)
    assert maps["onnx"] == pytest.approx(maps["keras"], abs=0.005)
