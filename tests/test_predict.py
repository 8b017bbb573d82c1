"""predict.py end to end: the README's main job, folders, video, JSON, modes and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, shared_path
from tests.helpers import assert_clean_failure, assert_matches_reference
from utils.config import load_class_names

# Each test runs predict.py in a fresh process (TensorFlow start-up, a model build).
pytestmark = pytest.mark.slow
PREDICT = os.path.join(ROOT, "predict.py")
WEIGHTS_NAME = "yolov4_mobilenet_v1_025_voc.h5"
V1_025 = ["--backbone", "mobilenetv1", "--alpha", "0.25"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A weights cache holding the shared VOC file, as if downloaded before."""
    folder = tmp_path_factory.mktemp("cache")
    os.symlink(shared_path("weights", WEIGHTS_NAME), folder / WEIGHTS_NAME)
    return folder


def run_predict(args, cache, cwd, timeout=240):
    env = dict(os.environ, YOLO_LITE_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, PREDICT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_readme_main_job_runs_with_cached_weights(cache, tmp_path):
    result = run_predict(V1_025, cache, tmp_path)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "img_out" / "grace_hopper.jpg"
    assert saved.is_file() and Image.open(saved).size == (512, 600)
    assert "1 object ->" in result.stdout and "157/157" in result.stdout


def reference_by_file(subset):
    data = json.load(open(shared_path("reference", "voc_mini_v1_025_detections.json")))
    names = load_class_names()
    out = {}
    for key, detections in data["images"].items():
        if key.startswith(subset):
            for det in detections:
                det["class_id"] = names.index(det["class"])
            out[os.path.basename(key)] = detections
    return out


def clip_reference(detections, width, height):
    """The JSON clips boxes to the image; clip the reference's [t, l, b, r] the same way."""
    for det in detections:
        t, l, b, r = det["box"]
        det["box"] = [
            min(max(t, 0), height),
            min(max(l, 0), width),
            min(max(b, 0), height),
            min(max(r, 0), width),
        ]
    return detections


def test_folder_mode_reproduces_reference_json(cache, tmp_path):
    folder = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages")
    result = run_predict(
        V1_025 + ["--source", folder, "--conf", "0.05", "--json", "r.json", "--save-dir", "out"],
        cache,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = json.load(open(tmp_path / "r.json"))["images"]
    reference = reference_by_file("VOC2007")
    assert sorted(os.path.basename(r["file"]) for r in records) == sorted(reference)
    for record in records:
        expected = clip_reference(
            reference[os.path.basename(record["file"])], record["width"], record["height"]
        )
        found = record["detections"]
        boxes = np.array([d["box"] for d in found], np.float32).reshape(-1, 4)
        assert_matches_reference(
            boxes,
            np.array([d["score"] for d in found]),
            np.array([d["class_id"] for d in found]),
            expected,
        )
        assert (tmp_path / "out" / os.path.basename(record["file"])).is_file()


def test_truncated_image_is_reported_and_the_rest_processed(cache, tmp_path):
    folder = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages")
    result = run_predict(
        V1_025 + ["--source", folder, "--json", "r.json", "--save-dir", "out", "--crop", "--count"],
        cache,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "2007_000027.jpg" in result.stderr and "truncated" in result.stderr
    records = json.load(open(tmp_path / "r.json"))["images"]
    # One shape for every entry: a consumer iterates without special cases.
    assert all({"file", "width", "height", "detections"} <= set(r) for r in records)
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1 and failed[0]["detections"] == [] and "truncated" in failed[0]["error"]
    ok = [r for r in records if "error" not in r]
    saved = sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".jpg"))
    assert len(ok) == 4 and saved == sorted(os.path.basename(r["file"]) for r in ok)
    # --crop saves one image per detection, --count prints per-class counts.
    crops = os.listdir(tmp_path / "out" / "crops")
    assert len(crops) == sum(len(r["detections"]) for r in ok) > 0
    assert any(name.endswith("_aeroplane.png") for name in crops)
    assert "aeroplane: " in result.stdout
    assert [r["file"] for r in records if "error" in r][0].endswith("2007_000027.jpg")


def test_video_from_photos_keeps_every_frame(cache, tmp_path):
    import cv2

    photos = [
        shared_path("reference", "street.jpg"),
        shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages", "000004.jpg"),
    ]
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 5, (320, 240))
    for i in range(5):
        frame = Image.open(photos[i % 2]).convert("RGB").resize((320, 240))
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    result = run_predict(
        V1_025 + ["--source", str(clip), "--json", "v.json", "--save-dir", "out"], cache, tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    frames = 0
    while out.read()[0]:
        frames += 1
    assert frames == 5
    records = json.load(open(tmp_path / "v.json"))["images"]
    assert [r["frame"] for r in records] == list(range(5))
    people = [sum(d["class"] == "person" for d in r["detections"]) for r in records]
    assert people[0] >= 3 and people[1] == 0  # street has people, the car photo has none


def test_fps_and_heatmap_modes(cache, tmp_path):
    street = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages", "000001.jpg")
    result = run_predict(
        V1_025 + ["--mode", "fps", "--runs", "3", "--source", street], cache, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "median" in result.stdout and "FPS" in result.stdout
    result = run_predict(
        V1_025 + ["--mode", "heatmap", "--source", street, "--save-dir", "hm"], cache, tmp_path
    )
    assert result.returncode == 0, result.stderr
    heat = Image.open(tmp_path / "hm" / "000001_heatmap.png")
    assert heat.format == "PNG" and min(heat.size) > 300


def test_help_lists_the_flags():
    result = subprocess.run([sys.executable, PREDICT, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in (
        "--backbone",
        "--alpha",
        "--weights",
        "--classes",
        "--anchors",
        "--input-size",
        "--conf",
        "--nms-iou",
        "--max-boxes",
        "--no-letterbox",
        "--source",
        "--mode",
        "--save-dir",
        "--json",
        "--crop",
        "--count",
        "--show",
    ):
        assert flag in result.stdout, flag


@pytest.fixture
def not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello\n")
    return str(path)


def test_missing_path(cache, tmp_path):
    assert_clean_failure(
        run_predict(V1_025 + ["--source", "nope/missing.jpg"], cache, tmp_path),
        "missing.jpg",
        "no such file",
    )


def test_non_image_file(cache, tmp_path, not_an_image):
    assert_clean_failure(
        run_predict(V1_025 + ["--source", not_an_image], cache, tmp_path),
        "notes.jpg",
        "not an image",
    )


def test_missing_camera(cache, tmp_path):
    assert_clean_failure(run_predict(V1_025 + ["--source", "9"], cache, tmp_path), "camera 9")


def test_weights_for_another_backbone(cache, tmp_path):
    street = shared_path("reference", "street.jpg")
    other = shared_path("reference", "compat", "yolov4_ghostnet_10_random.h5")
    assert_clean_failure(
        run_predict(
            V1_025 + ["--source", street, "--weights", other, "--input-size", "128"],
            cache,
            tmp_path,
        ),
        "yolov4_ghostnet_10_random.h5",
        "ghostnet",
    )


def test_weights_for_another_class_count(cache, tmp_path):
    street = shared_path("reference", "street.jpg")
    coco = os.path.join(ROOT, "model_data", "coco_classes.txt")
    assert_clean_failure(
        run_predict(
            V1_025 + ["--source", street, "--classes", coco, "--input-size", "128"], cache, tmp_path
        ),
        WEIGHTS_NAME,
        "20 classes",
    )


def test_offline_without_cached_weights_says_what_to_download(tmp_path):
    street = shared_path("reference", "street.jpg")
    env = dict(
        os.environ,
        YOLO_LITE_CACHE_DIR=str(tmp_path / "empty"),
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
    )
    result = subprocess.run(
        [sys.executable, PREDICT, "--backbone", "ghostnet", "--source", street],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "yolov4_ghostnet_voc.h5" in last and "releases/download" in last
    assert str(tmp_path / "empty") in last


def test_ctrl_c_finalises_the_video(cache, tmp_path, record_property):
    import signal
    import time

    import cv2

    clip = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    frame = np.zeros((64, 96, 3), np.uint8)
    for i in range(1500):
        writer.write(np.roll(frame + (i % 200), i, axis=1))
    writer.release()
    env = dict(os.environ, YOLO_LITE_CACHE_DIR=str(cache))
    process = subprocess.Popen(
        [
            sys.executable,
            PREDICT,
            *V1_025,
            "--source",
            str(clip),
            "--json",
            "l.json",
            "--save-dir",
            "out",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output = tmp_path / "out" / "long.mp4"
    deadline = time.time() + 120
    # The video is written under a temporary name, renamed when complete: wait for that file.
    while (
        not (output.parent.is_dir() and any(output.parent.iterdir()))
        and process.poll() is None
        and time.time() < deadline
    ):
        time.sleep(0.2)
    time.sleep(0.5)
    assert not output.exists()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    record_property(
        "robustness",
        [
            "predict.py",
            "Ctrl-C during a video",
            process.returncode == 0 and "Traceback" not in stderr,
        ],
    )
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    assert "stopped by user" in stdout + stderr
    capture = cv2.VideoCapture(str(output))
    frames = 0
    while capture.read()[0]:
        frames += 1
    records = json.load(open(tmp_path / "l.json"))["images"]
    assert 0 < frames < 1500 and len(records) == frames
    assert os.listdir(output.parent) == ["long.mp4"]  # no temporary left
