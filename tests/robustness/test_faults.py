"""Faults around the commands rather than in their input: Ctrl-C in the middle of an
evaluation, two predict.py runs writing the same files, a video with a broken frame, and a full
disk while results and exports are written (``RLIMIT_FSIZE``: the operating system refuses the
write as a full disk would). Every case runs the real script and records a row of the
robustness table.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, dataset_ids, shared_path
from tests.robustness.outputs import limit_file_size
from utils import files

pytestmark = pytest.mark.slow
MODEL = ["--backbone", "mobilenetv1", "--alpha", "0.25"]


def weights():
    return shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")


def script(name, *args):
    return [sys.executable, os.path.join(ROOT, name), *MODEL, "--weights", weights(), *args]


def run(command, record_property, row, status, timeout=300, **kwargs):
    """Run a command, record its robustness row, assert its status and that no traceback was
    printed; returns the CompletedProcess."""
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs
    )
    output = proc.stdout + proc.stderr
    record_property(
        "robustness",
        [
            os.path.basename(command[1]),
            row,
            proc.returncode == status and "Traceback" not in output,
        ],
    )
    assert "Traceback" not in output, output[-3000:]
    assert proc.returncode == status, output[-3000:]
    return proc


def one_error_line(proc):
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def no_temporaries(folder):
    return [
        name for _, _, names in os.walk(folder) for name in names + _ if files.is_temporary(name)
    ] == []


def folder_bytes(folder):
    return {
        os.path.relpath(os.path.join(root, name), folder): open(
            os.path.join(root, name), "rb"
        ).read()
        for root, _, names in os.walk(folder)
        for name in names
    }


# ----------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_during_get_map_keeps_the_previous_results(tmp_path, record_property):
    out = tmp_path / "map_out"
    helmet = shared_path("datasets", "helmet", "VOC2007")
    run(
        script(
            "get_map.py", "--data", shared_path("datasets", "raccoon", "VOC2007"), "--out", str(out)
        ),
        record_property,
        "complete run before the Ctrl-C",
        0,
    )
    before = folder_bytes(out)
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        process = subprocess.Popen(
            script("get_map.py", "--data", helmet, "--split", "train", "--out", str(out)),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.time() + 120
    while "img/s" not in log.read_text() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)  # until the progress bar shows that images are being detected
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    status = process.wait(timeout=60)
    text = log.read_text()
    record_property(
        "robustness",
        ["get_map.py", "Ctrl-C while detecting", status == 130 and "Traceback" not in text],
    )
    assert status == 130 and "Traceback" not in text, text[-3000:]
    assert "interrupted" in text
    assert folder_bytes(out) == before  # the finished results of the first run, untouched
    assert no_temporaries(out)


# ----------------------------------------------------------------------------- concurrency
def test_two_predict_runs_writing_the_same_files(tmp_path, record_property):
    folder = tmp_path / "images"
    folder.mkdir()
    source = shared_path("datasets", "raccoon", "VOC2007", "JPEGImages")
    for image_id in dataset_ids("raccoon", "test", 6):
        os.symlink(os.path.join(source, image_id + ".jpg"), folder / (image_id + ".jpg"))
    out, result = tmp_path / "out", tmp_path / "results.json"
    commands = [
        script(
            "predict.py",
            "--source",
            str(folder),
            "--save-dir",
            str(out),
            "--json",
            str(result),
            "--conf",
            conf,
        )
        for conf in ("0.05", "0.5")
    ]
    processes = [
        subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    passed = all(
        p.returncode == 0 and "Traceback" not in e for p, (_, e) in zip(processes, outputs)
    )
    record_property("robustness", ["predict.py", "two runs, same --save-dir and --json", passed])
    assert passed, outputs
    records = json.loads(result.read_text())["images"]  # whole: one run's or the other's
    assert [os.path.basename(r["file"]) for r in records] == sorted(os.listdir(folder))
    drawn = sorted(os.listdir(out))
    assert drawn == sorted(os.listdir(folder))
    for name in drawn:
        with Image.open(out / name) as image:
            image.load()  # a torn JPEG fails here
    assert no_temporaries(out)


# ----------------------------------------------------------------------------- video
def _video_with_a_broken_frame(path, frames=20, broken=10):
    """An MJPEG AVI (each frame its own JPEG) whose frame ``broken`` is overwritten with
    noise: the decoder rejects that frame and reads the next ones."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(frames):
        frame = np.full((120, 160, 3), 10 * i, np.uint8)
        cv2.putText(frame, str(i), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(starts) == frames
    begin, end = starts[broken], starts[broken + 1] - 8
    data[begin:end] = np.random.default_rng(0).integers(0, 256, end - begin, np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_a_broken_video_frame_is_reported_and_skipped(tmp_path, record_property):
    import cv2

    clip = tmp_path / "broken.avi"
    _video_with_a_broken_frame(clip)
    proc = run(
        script(
            "predict.py",
            "--source",
            str(clip),
            "--save-dir",
            str(tmp_path / "out"),
            "--json",
            str(tmp_path / "v.json"),
        ),
        record_property,
        "video with a broken frame",
        0,
    )
    assert "frame 10 could not be decoded, skipped" in proc.stderr
    assert "1 unreadable frame skipped: 10" in proc.stdout
    records = json.loads((tmp_path / "v.json").read_text())["images"]
    assert [r["frame"] for r in records] == [i for i in range(20) if i != 10]
    capture = cv2.VideoCapture(str(tmp_path / "out" / "broken.mp4"))
    written = 0
    while capture.read()[0]:
        written += 1
    assert written == 19


# ----------------------------------------------------------------------------- full disk
def test_full_disk_while_predict_saves_a_drawing(tmp_path, record_property):
    image = shared_path("datasets", "raccoon", "VOC2007", "JPEGImages", "raccoon-1.jpg")
    out = tmp_path / "out"
    proc = run(
        script(
            "predict.py",
            "--source",
            image,
            "--save-dir",
            str(out),
            "--json",
            str(tmp_path / "r.json"),
        ),
        record_property,
        "full disk while saving results",
        2,
        preexec_fn=limit_file_size(4096),
    )
    assert f"cannot write {out / 'raccoon-1.jpg'}: File too large" in one_error_line(proc)
    assert not out.exists() or (os.listdir(out) == [])


def test_full_disk_while_exporting(tmp_path, record_property):
    out = tmp_path / "exports"
    proc = run(
        script("export.py", "--format", "tflite", "--input-size", "128", "--out", str(out)),
        record_property,
        "full disk while exporting",
        2,
        preexec_fn=limit_file_size(256 * 1024),
    )
    error = one_error_line(proc)
    assert "cannot write" in error and ".tflite" in error and "File too large" in error, error
    assert not out.exists() or (os.listdir(out) == [])
