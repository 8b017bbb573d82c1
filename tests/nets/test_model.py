"""The model reproduces the reference implementation, weight for weight and output for output."""

import json

import numpy as np
import pytest
from PIL import Image

from nets import (
    UserError,
    WeightsMismatchError,
    backbone_specs,
    get_backbone,
    load_weights,
    yolo_body,
)
from tests.conftest import shared_path

REFERENCE_KEYS = ("p5_13x13", "p4_26x26", "p3_52x52")
# Every registered (backbone, alpha) (all but the smallest model in the slow tier), and each
# backbone at its smallest width.
ALL_VARIANTS = [
    pytest.param(
        spec.name,
        alpha,
        marks=() if (spec.name, alpha) == ("mobilenetv1", 0.25) else pytest.mark.slow,
    )
    for spec in backbone_specs()
    for alpha in spec.alphas
]
SMALLEST = [(spec.name, min(spec.alphas)) for spec in backbone_specs()]


def _street_input():
    path = shared_path("reference", "street_letterbox_416.png")
    return np.asarray(Image.open(path).convert("RGB"), np.float32)[None] / 255.0


def _assert_outputs_match(model, npz_path, atol=1e-3):
    reference = np.load(npz_path)
    outputs = model(_street_input(), training=False)
    for output, key in zip(outputs, REFERENCE_KEYS):
        np.testing.assert_allclose(
            np.asarray(output)[0], reference[key], atol=atol, rtol=0, err_msg=key
        )


def test_real_voc_weights_reproduce_reference_outputs(v1_025_weights):
    model = yolo_body((416, 416), num_classes=20, backbone="mobilenetv1", alpha=0.25)
    report = load_weights(model, v1_025_weights)
    assert report.num_loaded == 157 and not report.skipped
    _assert_outputs_match(model, shared_path("reference", "street_v1_025_raw_outputs.npz"))


def _compat_cases():
    try:
        index = json.load(open(shared_path("reference", "compat", "index.json")))
    except BaseException:  # collected without ../shared: one case that skips or fails
        return [pytest.param(None, id="compat-index")]
    return [pytest.param(entry, id=key) for key, entry in sorted(index.items())]


@pytest.mark.slow
@pytest.mark.parametrize("entry", _compat_cases())
def test_reference_compat_files_load_and_reproduce_outputs(entry):
    if entry is None:
        shared_path("reference", "compat", "index.json")
    model = yolo_body(
        (416, 416),
        num_classes=entry["num_classes"],
        backbone=entry["backbone"],
        alpha=entry["alpha"],
    )
    assert model.count_params() == entry["params"]
    report = load_weights(model, shared_path("reference", "compat", entry["file"]))
    assert not report.skipped and report.num_loaded == len(
        [layer for layer in model.layers if layer.weights]
    )
    _assert_outputs_match(model, shared_path("reference", "compat", entry["outputs"]))


def _keras_kind(layer):
    """The Keras class a layer is (our BatchNorm is a faster BatchNormalization)."""
    return next(cls.__name__ for cls in type(layer).__mro__ if cls.__module__.startswith("keras."))


@pytest.mark.parametrize("backbone,alpha", ALL_VARIANTS)
def test_parameter_counts_and_layer_shapes_match_reference(backbone, alpha):
    upstream = json.load(open(shared_path("reference", "upstream_weight_shapes.json")))
    model = yolo_body((None, None), num_classes=20, backbone=backbone, alpha=alpha)
    ours = [
        [_keras_kind(layer), [list(w.shape) for w in layer.weights]]
        for layer in model.layers
        if layer.weights
    ]
    # The registry's layer count is what weight-file diagnostics name the backbone by.
    assert len(ours) == get_backbone(backbone).weight_layers
    expected = upstream.get(f"{backbone}_{alpha}")
    if expected is None:
        pytest.skip(f"the reference implementation has no {backbone} {alpha:g}")
    assert model.count_params() == expected["params"]
    assert ours == expected["layers"]


def test_imagenet_backbone_file_fills_every_backbone_layer():
    model = yolo_body((224, 224), num_classes=20, backbone="mobilenetv1", alpha=0.25)
    before = {l.name: [w.copy() for w in l.get_weights()] for l in model.layers if l.weights}
    report = load_weights(model, shared_path("weights", "mobilenet_2_5_224_tf_no_top.h5"))
    backbone_layers = [name for name in before if name.startswith(("conv1", "conv_dw", "conv_pw"))]
    assert sorted(report.loaded) == sorted(backbone_layers) and len(backbone_layers) == 54
    changed = [
        name
        for name in backbone_layers
        if any(
            not np.array_equal(a, b)
            for a, b in zip(before[name], model.get_layer(name).get_weights())
        )
    ]
    assert changed == backbone_layers


def test_voc_weights_load_into_one_class_model_skipping_only_heads(v1_025_weights):
    model = yolo_body((320, 320), num_classes=1, backbone="mobilenetv1", alpha=0.25)
    report = load_weights(model, v1_025_weights, skip_mismatch=True)
    assert sorted(name for name, _ in report.skipped) == [
        "head_p3_out",
        "head_p4_out",
        "head_p5_out",
    ]
    assert report.num_loaded == 154


def test_mismatching_weights_give_a_clear_error(v1_025_weights):
    model = yolo_body((320, 320), num_classes=20, backbone="ghostnet", alpha=1.0)
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(model, v1_025_weights)
    message = str(info.value)
    assert "157 weighted layers" in message and "20 classes" in message
    assert "mobilenetv1 with alpha 0.25" in message


def test_wrong_class_count_is_named_without_skip_mismatch(v1_025_weights):
    model = yolo_body((320, 320), num_classes=3, backbone="mobilenetv1", alpha=0.25)
    with pytest.raises(WeightsMismatchError, match="20 classes"):
        load_weights(model, v1_025_weights)


@pytest.mark.slow
@pytest.mark.parametrize("backbone,alpha", SMALLEST)
def test_every_backbone_runs_at_square_and_rectangular_sizes(backbone, alpha):
    model = yolo_body((None, None), num_classes=2, backbone=backbone, alpha=alpha)
    for height, width in [(320, 320), (416, 416), (320, 416)]:
        outputs = model(np.zeros((1, height, width, 3), np.float32), training=False)
        shapes = [tuple(o.shape) for o in outputs]
        assert shapes == [(1, height // s, width // s, 21) for s in (32, 16, 8)]


def test_unknown_backbone_and_alpha_are_clear_errors():
    with pytest.raises(UserError, match="supported: .*mobilenetv1"):
        yolo_body((416, 416), num_classes=20, backbone="resnet50")
    with pytest.raises(UserError, match="supported alphas: 0.25 / 0.5 / 0.75 / 1"):
        get_backbone("mobilenetv1", 0.3)
    with pytest.raises(UserError, match="multiple of 32"):
        yolo_body((400, 416), num_classes=20)


def test_registry_facts_are_consistent():
    for spec in backbone_specs():
        assert spec.alphas and callable(spec.builder) and spec.weight_layers > 0, spec.name
        assert set(spec.pretrained) <= set(spec.alphas), spec.name
    # Weight files of the original implementation are told apart by their layer count; other
    # backbones may share a count (the diagnostics then name every candidate).
    counts = [spec.weight_layers for spec in backbone_specs() if spec.pretrained]
    assert len(set(counts)) == len(counts), "layer counts must tell published files apart"
