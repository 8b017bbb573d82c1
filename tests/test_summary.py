"""summary.py prints the model's size and cost."""

import json
import subprocess
import sys

import keras
import pytest

from nets import yolo_body
from nets.profile import count_flops
from tests.conftest import ROOT


def test_flops_of_a_single_conv_equal_the_hand_count():
    inputs = keras.Input((64, 32, 3))
    outputs = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    outputs = keras.layers.DepthwiseConv2D(3, padding="same")(outputs)
    model = keras.Model(inputs, outputs)
    conv = 32 * 16 * 8 * 3 * 3 * 3
    depthwise = 32 * 16 * 8 * 3 * 3
    assert count_flops(model) == 2 * (conv + depthwise)


def test_flops_scale_with_input_area():
    small = count_flops(yolo_body((320, 320), num_classes=20, alpha=0.25))
    large = count_flops(yolo_body((640, 640), num_classes=20, alpha=0.25))
    assert large == pytest.approx(4 * small, rel=1e-6)


@pytest.mark.slow
def test_summary_json_reports_parameters_and_gflops():
    result = subprocess.run(
        [
            sys.executable,
            "summary.py",
            "--backbone",
            "mobilenetv1",
            "--alpha",
            "0.25",
            "--num-classes",
            "20",
            "--input-size",
            "320",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["params"] == 841937 and figures["trainable_params"] == 826417
    assert 0.3 < figures["gflops"] < 0.5  # 0.703 GFLOPs at 416, scaled by (320/416)^2


@pytest.mark.slow
def test_summary_rejects_an_unsupported_alpha_with_one_line():
    result = subprocess.run(
        [sys.executable, "summary.py", "--alpha", "0.3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "supported alphas" in result.stderr and "Traceback" not in result.stderr
