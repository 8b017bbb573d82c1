"""predict.py following objects on the shared car video: track ids, line and zone counts, the
MOT file, YOLO labels, --vid-stride.

The video (../shared/tracking/README.md) shows four cars, counted by eye: a white car driving up
the frame, a silver car down while a red car drives up, and a white car down. So a line across
the middle is crossed twice upwards and twice downwards.
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, shared_path

pytestmark = pytest.mark.slow
PREDICT = os.path.join(ROOT, "predict.py")
WEIGHTS_NAME = "yolov4_mobilenet_v1_025_voc.h5"
V1_025 = ["--backbone", "mobilenetv1", "--alpha", "0.25"]
MIDDLE = "0.0,0.5,1.0,0.5"
BOTTOM_HALF = "0,216,768,216,768,432,0,432"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    os.symlink(shared_path("weights", WEIGHTS_NAME), folder / WEIGHTS_NAME)
    return folder


def run_predict(args, cache, cwd, timeout=300):
    env = dict(os.environ, YOLO_LITE_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, PREDICT, *V1_025, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def car_run(cache, tmp_path_factory):
    """One tracked run over the whole video, with every tracking output."""
    folder = tmp_path_factory.mktemp("cars")
    video = shared_path("tracking", "videos", "car-detection.mp4")
    result = run_predict(
        [
            "--source",
            video,
            "--track",
            "--line",
            MIDDLE,
            "--zone",
            BOTTOM_HALF,
            "--json",
            "cars.json",
            "--save-mot",
            "tracks-{class}.txt",
            "--save-txt",
            "--save-dir",
            "out",
            "--quiet",
        ],
        cache,
        folder,
    )
    assert result.returncode == 0, result.stderr
    return folder, result, json.load(open(folder / "cars.json"))


def test_a_line_across_the_middle_counts_two_cars_up_and_two_down(car_run):
    _, result, document = car_run
    line = document["summary"]["counts"]["lines"][0]
    assert line["line"] == [0.0, 216.0, 768.0, 216.0]  # fractions resolved on the 768x432 frame
    assert line["up"].get("car") == 2 and line["down"].get("car") == 2
    assert "line 1 (0.0,0.5,1.0,0.5): up 2 (car: 2), down 2 (car: 2)" in result.stdout
    # The counts grow frame by frame in the per-frame records, ending at the summary's.
    per_frame = [r["counts"]["lines"][0] for r in document["images"]]
    ups = [sum(c["up"].values()) for c in per_frame]
    assert ups == sorted(ups) and ups[0] == 0 and per_frame[-1] == line


def test_four_car_tracks_last_five_frames_or_more(car_run):
    _, result, document = car_run
    tracks = document["summary"]["tracking"]["tracks"]
    cars = [t for t in tracks if t["class"] == "car" and t["frames"] >= 5]
    assert len(cars) == 4, tracks
    # They follow the four passes in order (frames ~56-110, ~184-235 twice, ~318-350).
    firsts = sorted(t["first_frame"] for t in cars)
    assert 50 <= firsts[0] <= 110 and 180 <= firsts[1] <= firsts[2] <= 235 and firsts[3] >= 310
    # Every tracked box carries its id in the JSON, and the ids are those of the summary.
    ids = {d["track_id"] for r in document["images"] for d in r["detections"]}
    assert ids == {t["track_id"] for t in tracks}


def test_the_zone_counts_cars_inside_per_frame_and_in_total(car_run):
    _, _, document = car_run
    zone = document["summary"]["counts"]["zones"][0]
    assert zone["total"].get("car") == 4
    inside = [sum(r["counts"]["zones"][0]["inside"].values()) for r in document["images"]]
    # Frames ~192-235 hold two cars, and the bottom half sees at most those two at once.
    assert max(inside) == 2 and inside[0] == 0


def test_mot_file_video_and_labels_hold_every_tracked_frame(car_run):
    folder, _, document = car_run
    records = document["images"]
    rows = np.loadtxt(folder / "tracks-car.txt", delimiter=",", ndmin=2)
    cars = [(r["frame"], d) for r in records for d in r["detections"] if d["class"] == "car"]
    assert len(rows) == len(cars) and rows.shape[1] == 10
    assert set(rows[:, 0].astype(int)) == {frame + 1 for frame, _ in cars}  # MOT frames from 1
    assert (rows[:, 7:] == -1).all()
    capture = cv2.VideoCapture(str(folder / "out" / "car-detection.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(records) == 377
    labels = sorted(os.listdir(folder / "out" / "labels"))
    assert len(labels) == 377 and labels[0] == "car-detection_000000.txt"
    frame = next(r for r in records if len(r["detections"]) == 2)
    lines = open(folder / "out" / "labels" / f"car-detection_{frame['frame']:06d}.txt").readlines()
    assert len(lines) == 2
    cls, cx, cy, w, h = lines[0].split()
    x1, y1, x2, y2 = frame["detections"][0]["box"]
    assert int(cls) == frame["detections"][0]["class_id"]
    assert abs(float(cx) - (x1 + x2) / 2 / 768) < 1e-4 and abs(float(h) - (y2 - y1) / 432) < 1e-4


def test_vid_stride_detects_every_other_frame(cache, tmp_path):
    clip = tmp_path / "clip.mp4"
    capture = cv2.VideoCapture(shared_path("tracking", "videos", "car-detection.mp4"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 12.5, (384, 216))
    for _ in range(21):
        writer.write(cv2.resize(capture.read()[1], (384, 216)))
    writer.release()
    result = run_predict(
        ["--source", str(clip), "--vid-stride", "2", "--json", "s.json", "--track", "--quiet"],
        cache,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = json.load(open(tmp_path / "s.json"))["images"]
    assert [r["frame"] for r in records] == list(range(0, 21, 2))
