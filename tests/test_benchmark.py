"""benchmark.py as a user runs it, on the real VOC weights (mobilenetv1-0.25 at 128) and the
voc_mini VOC2007 images (their split files made here: five images, train and test alike)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path

pytestmark = pytest.mark.slow  # exports six files and starts seven fresh processes (about 60 s)

ALL = ["keras", "saved_model", "tflite", "tflite_fp16", "tflite_int8", "onnx", "onnx_int8"]


def voc_mini_2007(folder):
    source = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    root = folder / "voc"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for sub in ("Annotations", "JPEGImages"):
        os.symlink(os.path.join(source, sub), root / sub)
    ids = sorted(name[:-4] for name in os.listdir(os.path.join(source, "JPEGImages")))
    for split in ("train", "test"):
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    return str(root)


def run_benchmark(*flags):
    command = [sys.executable, os.path.join(ROOT, "benchmark.py"), "--no-progress", *flags]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchmark")
    data = voc_mini_2007(folder)
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    result = run_benchmark(
        "--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", weights,
        "--input-size", "128", "--data", data, "--runs", "2", "--calib-images", "5",
        "--out", str(folder / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.load(open(folder / "out" / "benchmark.json"))
    return {"data": data, "out": folder / "out", "stdout": result.stdout, "rows": rows}


def test_every_format_is_a_measured_row(measured):
    rows = {row["format"]: row for row in measured["rows"]}
    assert list(rows) == ALL
    for name, row in rows.items():
        assert row["error"] is None, (name, row["error"])
        assert row["size_mb"] > 0.5 and 0.0 < row["map50"] <= 1.0 and 0.0 < row["coco_ap"] <= 1.0
        # Two timed runs on a loaded machine: both measured, their order not guaranteed.
        assert row["model_ms"] > 0 and row["end_to_end_ms"] > 0, row
        assert row["end_to_end_exact_ms"] > 0, row  # the same, with --preprocess exact
        assert row["first_result_s"] > 0 and row["peak_rss_mb"] > 20, row
        assert name in measured["stdout"]
    # The float exports reproduce the Keras model's detections, so its mAP; int8 is near it.
    for name in ("saved_model", "tflite", "onnx"):
        assert abs(rows[name]["map50"] - rows["keras"]["map50"]) < 0.005, name
    for name in ("tflite_int8", "onnx_int8"):
        assert rows[name]["quantization"] == "int8"
        assert abs(rows[name]["map50"] - rows["keras"]["map50"]) < 0.15, name
    # No TensorFlow in a .tflite process: a fraction of the Keras one's memory and start-up.
    assert rows["tflite"]["peak_rss_mb"] < rows["keras"]["peak_rss_mb"] / 2
    assert rows["tflite"]["first_result_s"] < rows["keras"]["first_result_s"]
    with open(measured["out"] / "benchmark.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["format"] for r in table] == ALL and float(table[0]["map50"]) == rows["keras"][
        "map50"
    ]


def test_given_files_are_measured_and_a_broken_one_is_a_row_that_says_why(measured, tmp_path):
    tflite = next(r["file"] for r in measured["rows"] if r["format"] == "tflite")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx model")
    result = run_benchmark(
        "--files", tflite, str(broken), "--data", measured["data"], "--runs", "2",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.load(open(tmp_path / "out" / "benchmark.json"))
    assert [r["file"] for r in rows] == [tflite, str(broken)]
    expected = next(r for r in measured["rows"] if r["format"] == "tflite")
    assert rows[0]["error"] is None and rows[0]["map50"] == expected["map50"]
    assert rows[1]["map50"] is None and "not a readable ONNX model" in rows[1]["error"]
    assert "FAILED" in result.stdout.splitlines()[2] and "broken.onnx" in rows[1]["error"]


def test_a_format_that_cannot_be_made_is_a_row_and_the_run_says_so(measured, tmp_path):
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    result = run_benchmark(
        "--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", weights,
        "--input-size", "128", "--data", measured["data"], "--formats", "tflite_int8",
        "--calib-split", "nosuchsplit", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 1  # nothing could be measured
    (row,) = json.load(open(tmp_path / "out" / "benchmark.json"))
    assert row["format"] == "tflite_int8" and "calibration" in row["error"]


def test_random_weights_are_measured_for_size_and_speed_only(measured, tmp_path):
    """--weights none: a model with random weights is written, exported and timed; mAP is not
    measured (it would say nothing)."""
    result = run_benchmark(
        "--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", "none",
        "--input-size", "128", "--data", measured["data"], "--formats", "keras", "tflite",
        "--runs", "2", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "random weights" in result.stderr
    rows = json.load(open(tmp_path / "out" / "benchmark.json"))
    assert [r["format"] for r in rows] == ["keras", "tflite"]
    written = tmp_path / "out" / "mobilenetv1_0.25_random.h5"
    assert rows[0]["file"] == str(written) and written.is_file()
    for row in rows:
        assert row["error"] is None, row["error"]
        assert row["map50"] is None and row["coco_ap"] is None
        assert row["size_mb"] > 0.5 and row["model_ms"] > 0 and row["first_result_s"] > 0
