"""Every registered backbone exports to TFLite (float32) and ONNX, and the exported raw head
outputs match the Keras model's in the runtimes that run them (random weights, small input)."""

import numpy as np
import pytest

from nets import backbone_specs, yolo_body
from nets.anchors import ANCHORS_MASK
from utils.config import load_anchors
from utils.formats import open_runtime

SIZE = (128, 160)  # small, and not square: the grids are 4x5, 8x10, 16x20
# A conversion takes 10-50 s: the fast tier exports mobilenetv1 only, the full suite all.
CASES = [
    pytest.param(
        spec.name,
        min(spec.alphas),
        id=f"{spec.name}-{min(spec.alphas):g}",
        marks=[] if spec.name == "mobilenetv1" else [pytest.mark.slow],
    )
    for spec in backbone_specs()
]


@pytest.mark.parametrize("backbone,alpha", CASES)
def test_backbone_exports_and_matches_keras(backbone, alpha, tmp_path):
    from utils.export.exporter import export_model

    model = yolo_body(SIZE, num_classes=3, backbone=backbone, alpha=alpha)
    images = np.random.default_rng(1).integers(0, 256, (2,) + SIZE + (3,), dtype=np.uint8)
    results = export_model(
        model,
        ["a", "b", "c"],
        load_anchors(),
        ANCHORS_MASK,
        SIZE,
        str(tmp_path),
        ["tflite", "onnx"],
        backbone=backbone,
        alpha=alpha,
        check_images=images,
    )
    expected = [o.numpy() for o in model(images.astype(np.float32) / 255.0, training=False)]
    assert [o.shape[1:3] for o in expected] == [(4, 5), (8, 10), (16, 20)]
    for result in results:
        outputs = open_runtime(result.path).outputs(images)
        scale = max(1.0, max(float(np.abs(e).max()) for e in expected))
        for got, want in zip(outputs, expected):
            assert got.shape == want.shape, result.path
            np.testing.assert_allclose(got, want, atol=1e-3 * scale, err_msg=result.path)
