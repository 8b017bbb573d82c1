"""export.py end to end: a small export that predict.py runs without TensorFlow, and bad input
that ends in one clear line with nothing half-written left behind."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path
from tests.helpers import assert_clean_failure

EXPORT = os.path.join(ROOT, "export.py")
PREDICT = os.path.join(ROOT, "predict.py")


def run(script, *args, timeout=300):
    return subprocess.run(
        [sys.executable, script, *[str(a) for a in args]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def small_v1_export_args():
    """The VOC v1-0.25 weights at 160 px, as TFLite and ONNX."""
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    return ["--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", weights] + [
        "--input-size",
        160,
        "--format",
        "tflite",
        "onnx",
    ]


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """The VOC v1-0.25 weights at 160 px as TFLite float32 + int8 and ONNX (CLI)."""
    out = tmp_path_factory.mktemp("exports")
    result = run(
        EXPORT,
        *small_v1_export_args(),
        "--int8",
        "--data",
        shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007"),
        "--split",
        "test",
        "--calib-images",
        3,
        "--out",
        out,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.mark.slow
def test_export_writes_every_file_and_a_summary_table(small_export):
    out, result = small_export
    names = sorted(os.listdir(out))
    assert names == [
        "yolov4_lite_mobilenetv1_0.25_160.onnx",
        "yolov4_lite_mobilenetv1_0.25_160.tflite",
        "yolov4_lite_mobilenetv1_0.25_160_int8.onnx",
        "yolov4_lite_mobilenetv1_0.25_160_int8.tflite",
    ]  # no temporary files
    table = result.stdout.splitlines()
    assert table[0].split()[:4] == ["format", "variant", "file", "MB"]
    assert len(table) == 5 and all("raw max |diff|" in row for row in table[1:])


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "yolov4_lite_mobilenetv1_0.25_160.tflite",
        "yolov4_lite_mobilenetv1_0.25_160_int8.tflite",
        "yolov4_lite_mobilenetv1_0.25_160.onnx",
        "yolov4_lite_mobilenetv1_0.25_160_int8.onnx",
    ],
)
def test_predict_runs_an_export_without_tensorflow_or_flags(small_export, tmp_path, name):
    out, _ = small_export
    # A module named tensorflow that fails on import proves the runtime path never needs it.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "tensorflow.py").write_text("raise ImportError('tensorflow was imported')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    result = subprocess.run(
        [
            sys.executable,
            PREDICT,
            "--weights",
            str(out / name),
            "--source",
            shared_path("reference", "street.jpg"),
            "--save-dir",
            str(tmp_path / "img"),
            "--json",
            str(tmp_path / "r.json"),
            "--conf",
            "0.2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "input 160x160" in result.stdout and result.stderr == ""
    records = json.load(open(tmp_path / "r.json"))["images"][0]["detections"]
    assert "person" in [r["class"] for r in records]  # VOC names, read from the file


@pytest.mark.slow
def test_heatmap_and_fps_modes_run_on_an_export(small_export, tmp_path):
    out, _ = small_export
    model = out / "yolov4_lite_mobilenetv1_0.25_160.onnx"
    street = shared_path("reference", "street.jpg")
    result = run(
        PREDICT, "--weights", model, "--source", street, "--mode", "heatmap", "--save-dir", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(tmp_path / "street_heatmap.png") > 0
    result = run(PREDICT, "--weights", model, "--source", street, "--mode", "fps", "--runs", 3)
    assert result.returncode == 0 and "FPS" in result.stdout, result.stderr


@pytest.fixture(scope="module")
def voc_mini_folder(tmp_path_factory):
    """The 10 voc_mini photos in one folder (one of them truncated): more than a batch of 8."""
    import glob
    import shutil

    folder = tmp_path_factory.mktemp("voc_mini_photos")
    for path in glob.glob(
        os.path.join(shared_path("datasets", "voc_mini"), "**", "*.jpg"), recursive=True
    ):
        shutil.copy(path, folder)
    assert len(os.listdir(folder)) > 8
    return folder


def _folder_detections(weights, folder, tmp_path, conf):
    out = tmp_path / os.path.basename(str(weights))
    result = run(
        PREDICT,
        "--weights",
        weights,
        "--source",
        folder,
        "--batch-size",
        8,
        "--conf",
        conf,
        "--save-dir",
        out,
        "--json",
        out / "r.json",
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return {r["file"]: r for r in json.load(open(out / "r.json"))["images"]}


@pytest.mark.slow
def test_nms_exports_run_over_a_folder_in_batches_like_the_raw_ones(
    small_export, voc_mini_folder, tmp_path
):
    """--nms graphs take one image; predict.py sends batches of 8: the runtime feeds the file
    one image at a time and the detections are the raw export's."""
    raw_out, _ = small_export
    nms_out = tmp_path / "nms"
    result = run(
        EXPORT,
        *small_v1_export_args(),
        "--nms",
        "--conf",
        0.2,
        "--out",
        nms_out,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    # The check ran on a real photo (the sample photo), with detections to compare.
    checks = result.stdout.splitlines()[1:]
    assert len(checks) == 2 and all("detections as TensorFlow's" in row for row in checks)
    assert all(" 0 detections" not in row for row in checks)
    stem = "yolov4_lite_mobilenetv1_0.25_160"
    for ext in ("tflite", "onnx"):
        raw = _folder_detections(raw_out / f"{stem}.{ext}", voc_mini_folder, tmp_path, 0.2)
        nms = _folder_detections(nms_out / f"{stem}_nms.{ext}", voc_mini_folder, tmp_path, 0.2)
        assert raw.keys() == nms.keys()
        total = 0
        for name, record in raw.items():
            got, want = nms[name]["detections"], record["detections"]
            assert [d["class"] for d in got] == [d["class"] for d in want], name
            for a, b in zip(got, want):
                assert a["score"] == pytest.approx(b["score"], abs=1e-3)
                assert a["box"] == pytest.approx(b["box"], abs=0.5)
            total += len(want)
        assert total >= 5  # enough detections for the comparison to mean something
        assert sum("error" in r for r in nms.values()) == 1  # the truncated JPEG, reported


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    """A full disk while the .tflite is written: a clear error, nothing at the path."""
    import errno

    from nets import yolo_body
    from nets.anchors import ANCHORS_MASK
    from utils import files
    from utils.config import load_anchors
    from utils.export.exporter import export_model

    def full_disk(path, data):
        with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_bytes", full_disk)
    model = yolo_body((128, 128), num_classes=2, alpha=0.25)
    with pytest.raises(OSError, match="No space left"):
        export_model(
            model,
            ["a", "b"],
            load_anchors(),
            ANCHORS_MASK,
            (128, 128),
            str(tmp_path),
            ["tflite"],
            backbone="mobilenetv1",
            alpha=0.25,
        )
    assert os.listdir(tmp_path) == []


def test_corrupt_exports_fail_cleanly(tmp_path):
    street = shared_path("reference", "street.jpg")
    for name, data in (
        ("bad.tflite", b"TFL3" + b"\0" * 64),
        ("bad.onnx", b"not onnx"),
        ("empty.tflite", b""),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        result = run(
            PREDICT,
            "--weights",
            path,
            "--source",
            street,
            "--save-dir",
            tmp_path / "img",
            timeout=120,
        )
        assert_clean_failure(result, name)
        assert result.returncode == 2
    assert not (tmp_path / "img").exists()


def test_bad_export_requests_fail_cleanly(tmp_path):
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    out = tmp_path / "out"
    cases = [
        (["--format", "tflite", "caffe"], "invalid choice: 'caffe'"),
        (["--int8"], "--int8 needs calibration images"),
        (["--calib-images", "0"], "--calib-images"),
        (["--out", __file__], "--out"),
        # The v1-0.25 VOC file does not fit mobilenetv2: the message says what it fits.
        (
            [
                "--backbone",
                "mobilenetv2",
                "--alpha",
                "0.5",
                "--weights",
                weights,
                "--input-size",
                "128",
                "--out",
                out,
            ],
            "mobilenetv1",
        ),
    ]
    for args, fragment in cases:
        result = run(EXPORT, *args)
        assert_clean_failure(result, fragment)
        assert result.returncode == 2
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.slow
def test_int8_files_from_the_training_split_give_the_same_detections_when_re_run(tmp_path):
    """Exported twice from the same training images, the int8 files detect the same boxes, to
    the digit, as each other and as themselves run again (calibration is deterministic)."""
    data = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    images = os.path.join(data, "JPEGImages")
    found = {}
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        result = run(
            EXPORT, *small_v1_export_args(), "--int8", "--data", data, "--split", "trainval",
            "--calib-images", 4, "--out", out, "--no-progress",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        for kind in ("tflite", "onnx"):
            model = out / f"yolov4_lite_mobilenetv1_0.25_160_int8.{kind}"
            runs = ("once", "again") if attempt == "first" else ("once",)
            for again in runs:
                record = tmp_path / f"{attempt}_{kind}_{again}.json"
                result = run(
                    PREDICT, "--weights", model, "--source", images, "--json", record,
                    "--conf", "0.1", "--save-dir", tmp_path / "drawn", "--quiet",
                )  # fmt: skip
                assert result.returncode == 0, result.stderr
                found[attempt, kind, again] = json.load(open(record))["images"]
    for kind in ("tflite", "onnx"):
        first = found["first", kind, "once"]
        assert sum(len(image["detections"]) for image in first) >= 3
        assert found["first", kind, "again"] == first
        assert found["second", kind, "once"] == first
