"""--show for real: predict.py's window on an Xvfb display, read back from a screenshot; and the
one-line error without a display."""

import json
import os
import select
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path
from tests.helpers import assert_clean_failure
from tests.streaming import video_frames

PREDICT = os.path.join(ROOT, "predict.py")
WEIGHTS_NAME = "yolov4_mobilenet_v1_025_voc.h5"
V1_025 = ["--backbone", "mobilenetv1", "--alpha", "0.25"]
CAR = ("tracking", "videos", "car-detection.mp4")
# Frames 180-219 of car-detection.mp4: cars that the VOC weights find (boxes to look for).
CLIP_START, CLIP_FRAMES = 180, 40


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A weights cache holding the shared VOC file, as if downloaded before."""
    folder = tmp_path_factory.mktemp("cache")
    os.symlink(shared_path("weights", WEIGHTS_NAME), folder / WEIGHTS_NAME)
    return folder


@pytest.fixture
def xvfb():
    """A virtual X display (its name, ':N'), stopped after the test."""
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (apt-get install xvfb; .ci/run installs it)")
    read, write = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"]
        # Without -noreset the server resets when its last client leaves (a screenshot), and
        # refuses the window's connection meanwhile.
        + ["-noreset"],
        pass_fds=(write,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        # Xvfb writes the display number it took (a free one) once it accepts clients.
        number = b""
        deadline = time.monotonic() + 30
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([read], [], [], 0.5)[0]:
                chunk = os.read(read, 16)
                if not chunk:
                    break
                number += chunk
        assert number.strip().isdigit(), f"Xvfb did not start (exit {process.poll()})"
        yield f":{number.decode().strip()}"
    finally:
        os.close(read)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def write_clip(path, frames, fps=12.5):
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def read_video(path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def find_in_screen(screen, image, scale=None):
    """Where ``image`` (BGR) appears in ``screen`` (BGR), at ``scale`` or at the scale that
    fits best: (score, x, y, scale)."""
    import cv2

    screen_gray = cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY)
    half = cv2.resize(screen_gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    image_gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)

    def match(scale, step=1):
        target = screen_gray if step == 1 else half
        size = (round(image.shape[1] * scale / step), round(image.shape[0] * scale / step))
        if size[0] < 16 or size[0] > target.shape[1] or size[1] > target.shape[0]:
            return (-1.0, 0, 0, scale)
        template = cv2.resize(image_gray, size, interpolation=cv2.INTER_AREA)
        scores = cv2.matchTemplate(target, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (x, y) = cv2.minMaxLoc(scores)
        return (best, x * step, y * step, scale)

    if scale is not None:
        return match(scale)
    coarse = max(match(s, step=2) for s in np.arange(0.2, 1.01, 0.02))
    return max(match(s) for s in np.arange(coarse[3] - 0.02, coarse[3] + 0.021, 0.002))


def shown_region(screen, x, y, scale, like):
    size = (round(like.shape[1] * scale), round(like.shape[0] * scale))
    return screen[y : y + size[1], x : x + size[0]].astype(np.int16), size


@pytest.mark.slow
def test_show_draws_each_frame_in_a_window_and_ends_with_the_video(cache, tmp_path, xvfb):
    import cv2
    from PIL import ImageGrab

    raw = video_frames(shared_path(*CAR), CLIP_FRAMES, start=CLIP_START)
    write_clip(tmp_path / "clip.mp4", raw)
    raw = read_video(tmp_path / "clip.mp4")  # as predict.py decodes them
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", YOLO_LITE_CACHE_DIR=str(cache))
    env.pop("WAYLAND_DISPLAY", None)
    args = ["--source", "clip.mp4", "--show", "--json", "r.json", "--save-dir", "out", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, PREDICT, *V1_025, *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shots, grabs = [], 0
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            shot = np.asarray(ImageGrab.grab(xdisplay=xvfb))[..., ::-1]  # RGB -> BGR
            grabs += 1
            if shot.std() > 3:  # something on the (black) screen
                shots = [*shots[-4:], shot]
            time.sleep(0.03)
        # The video's end closes the window and the run: no key is waited for.
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    drawn = read_video(tmp_path / "out" / "clip.mp4")
    records = json.load(open(tmp_path / "r.json"))["images"]
    assert len(drawn) == len(records) == CLIP_FRAMES
    assert shots, f"the window never appeared on {xvfb} ({grabs} screenshots)"
    # The last screenshots show the last frames: find one of them in the window, at the
    # window's scale, and check that it is the drawing (boxes, labels), not the bare frame.
    scale = find_in_screen(shots[-1], drawn[-1])[3]  # the window's
    best = None
    for shot in reversed(shots):
        for index in range(CLIP_FRAMES - 1, CLIP_FRAMES - 9, -1):
            found = find_in_screen(shot, drawn[index], scale)
            if best is None or found[0] > best[0]:
                best = (found[0], shot, index, *found[1:])
        if best[0] > 0.95:
            break
    score, shot, index, x, y, scale = best
    assert score > 0.9, f"no frame of the video in the window (best match {score:.2f})"
    assert records[index]["detections"], "the matched frame has no box to look for"
    # The boxes' colour is on the screen where the drawing has it, and not in the bare frame.
    overlay = np.abs(drawn[index].astype(np.int16) - raw[index]).sum(axis=2) > 90
    assert overlay.sum() > 200  # the boxes and labels
    colour = np.median(drawn[index][overlay], axis=0)
    screen, size = shown_region(shot, x, y, scale, drawn[index])
    near = cv2.resize(overlay.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    near = cv2.dilate(near.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    as_read = cv2.resize(raw[index], size, interpolation=cv2.INTER_AREA).astype(np.int16)
    on_screen = np.abs(screen - colour).sum(axis=2) < 90
    in_frame = np.abs(as_read - colour).sum(axis=2) < 90
    assert on_screen.sum() > 50 and (on_screen & near).sum() > 0.8 * on_screen.sum()
    assert in_frame.sum() < on_screen.sum() / 5, (in_frame.sum(), on_screen.sum())


def test_show_without_a_display_fails_before_anything_is_written(tmp_path):
    import cv2

    writer = cv2.VideoWriter(
        str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (64, 48)
    )
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["YOLO_LITE_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, PREDICT, *V1_025, "--source", "clip.mp4", "--show", "--json", "r.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert_clean_failure(result, "--show needs a display", "DISPLAY")
    assert os.listdir(tmp_path) == ["clip.mp4"]  # no save dir, no JSON, no cache
