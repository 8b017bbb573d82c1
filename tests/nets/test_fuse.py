"""Folding batch norms into convolutions keeps every backbone's outputs."""

import json

import keras
import numpy as np
import pytest

from nets import load_weights, yolo_body
from nets.fuse import fold_batchnorm
from tests.conftest import shared_path


def count_bn(model):
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


@pytest.mark.slow
@pytest.mark.parametrize(
    "key",
    ["yolov4_mobilenetv2_05_random", "yolov4_ghostnet_10_random", "yolov4_densenet121_10_random"],
)
def test_folded_model_matches_original_with_random_bn_statistics(key):
    # The compat files have random BatchNorm statistics, a hard case for folding.
    entry = json.load(open(shared_path("reference", "compat", "index.json")))[key]
    model = yolo_body(
        (128, 160),
        num_classes=entry["num_classes"],
        backbone=entry["backbone"],
        alpha=entry["alpha"],
    )
    load_weights(model, shared_path("reference", "compat", entry["file"]))
    fused = fold_batchnorm(model)
    assert fused is not model and count_bn(fused) < count_bn(model) // 2
    x = np.random.default_rng(0).uniform(size=(1, 128, 160, 3)).astype(np.float32)
    for a, b in zip(model(x, training=False), fused(x, training=False)):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(b, a, atol=1e-4 * max(1.0, np.abs(a).max()), rtol=0)
    assert fused.backbone_name == entry["backbone"]


def test_model_without_batchnorm_is_returned_as_is():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    assert fold_batchnorm(model) is model
