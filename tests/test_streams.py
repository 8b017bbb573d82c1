"""Live sources for real, on 127.0.0.1: an MJPEG camera that is cut and comes back, a model
slower than the stream (``--stream-mode latest`` drops frames, ``all`` keeps them), RTSP, and a
stream that never opens. The servers are in tests/streaming.py."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path
from tests.helpers import assert_clean_failure
from tests.streaming import (
    MjpegServer,
    RtspServer,
    ffmpeg_missing,
    free_port,
    h264_access_units,
    jpeg_frames,
    video_frames,
)
from utils.inference.sources import SourceSettings, open_source

PREDICT = os.path.join(ROOT, "predict.py")
WEIGHTS_NAME = "yolov4_mobilenet_v1_025_voc.h5"
V1_025 = ["--backbone", "mobilenetv1", "--alpha", "0.25"]
CAR = ("tracking", "videos", "car-detection.mp4")  # 768x432, 12.5 fps, 377 frames


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A weights cache holding the shared VOC file, as if downloaded before."""
    folder = tmp_path_factory.mktemp("cache")
    os.symlink(shared_path("weights", WEIGHTS_NAME), folder / WEIGHTS_NAME)
    return folder


def run_predict(args, cache, cwd, timeout=60):
    env = dict(os.environ, YOLO_LITE_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, PREDICT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Predict:
    """predict.py running in the background while a test drives the server it reads."""

    def __init__(self, args, cache, cwd):
        self.out = open(cwd / "predict.stdout", "w+")
        self.err = open(cwd / "predict.stderr", "w+")
        self.process = subprocess.Popen(
            [sys.executable, PREDICT, *args],
            cwd=cwd,
            env=dict(os.environ, YOLO_LITE_CACHE_DIR=str(cache)),
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=self.err,
            text=True,
        )

    def running(self):
        return self.process.poll() is None

    def result(self, timeout):
        """Wait for the end: a CompletedProcess with its output."""
        returncode = self.process.wait(timeout=timeout)
        self.out.seek(0)
        self.err.seek(0)
        return subprocess.CompletedProcess(
            self.process.args, returncode, self.out.read(), self.err.read()
        )

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.out.close()
        self.err.close()


def video_frame_count(path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_complete_outputs(folder, json_name, stem):
    """The video and the JSON were put in place and agree: a frame per record."""
    records = json.load(open(folder / json_name))
    video = folder / "out" / f"{stem}.mp4"
    assert os.listdir(folder / "out") == [f"{stem}.mp4"]  # no temporary left
    frames = video_frame_count(video)
    assert frames == len(records["images"]) == records["summary"]["frames"] > 0
    indices = [r["frame"] for r in records["images"]]
    assert indices == sorted(set(indices))  # in order, none twice
    return records


def synthetic_jpegs(count, size=(160, 120)):
    """Frames of a bright square moving over a gradient (no shared data needed)."""
    width, height = size
    ramp = np.linspace(0, 120, width, dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = np.repeat(np.repeat(ramp[None, :, None], height, 0), 3, 2).copy()
        x = (i * 3) % (width - 20)
        frame[40:60, x : x + 20] = (40, 220, 250)
        frames.append(frame)
    return jpeg_frames(frames)


def read_source(url, mode=None, reconnect=0, per_frame_s=0.0, on_frame=None):
    """Open ``url`` as predict.py does and take its frames; (frames, source, messages)."""
    messages = []
    source = open_source(url, SourceSettings(mode, 1, reconnect, messages.append))
    taken = []
    try:
        for frame in source.frames():
            taken.append(frame)
            if on_frame is not None:
                on_frame(len(taken))
            time.sleep(per_frame_s)
    finally:
        source.close()
    return taken, source, messages


# ---------------------------------------------------------------------- the sources alone
def test_video_file_read_slowly_keeps_every_frame(tmp_path):
    """A model slower than 0.1 s a frame once lost the last queued frames of every video."""
    import cv2

    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    frames, source, messages = read_source(str(path), per_frame_s=0.15)
    assert [f.index for f in frames] == list(range(12)) and messages == []


def test_mjpeg_latest_drops_what_a_slow_reader_misses_and_all_keeps_it():
    server = MjpegServer(synthetic_jpegs(40), fps=50)
    server.start(final=True)  # one clip, then nobody answers
    try:
        frames, source, messages = read_source(server.url, per_frame_s=0.1)
        assert source.mode == "latest" and server.completed == 1
        dropped = source.stats["dropped"]
        # Every frame served was either detected or counted as dropped.
        assert dropped > 0 and len(frames) + dropped == server.sent_total == 40
        assert frames[0].size == (160, 120)
        assert "frames dropped to keep up" in source.summary()
        assert messages == [f"{server.url}: connection lost"] and source.stats["lost"]

        server.start(final=True)
        frames, source, _ = read_source(server.url, mode="all", per_frame_s=0.05)
        assert source.stats["dropped"] == 0 and [f.index for f in frames] == list(range(40))
    finally:
        server.stop()


def test_mjpeg_cut_and_restarted_is_reconnected_then_lost():
    server = MjpegServer(synthetic_jpegs(40), fps=50)

    def cut_after(taken):
        if taken == 10:  # the reader is well into the clip: cut, come back 0.3 s later
            server.stop()
            time.sleep(0.3)
            server.start(final=True)

    server.start(live=True)
    try:
        # Every frame ("all"), so that the numbering is checked without drops under load.
        frames, source, messages = read_source(server.url, "all", reconnect=2, on_frame=cut_after)
    finally:
        server.stop()
    name = server.url
    assert messages[:2] == [
        f"{name}: connection lost; reconnecting (1 of 2) in 0.5 s",
        f"{name}: reconnected",
    ]
    assert messages[-1] == f"{name}: connection lost and not regained after 2 attempts"
    assert source.stats["reconnects"] == 1 and source.stats["lost"]
    assert server.connections == 2 and server.completed == 1
    indices = [f.index for f in frames]
    assert indices == list(range(len(frames))) and len(frames) > 40  # numbered on after the cut
    assert source.summary() == "reconnected 1 time; the stream ended or was lost"


def test_rtsp_cut_and_restarted_is_reconnected(tmp_path):
    missing = ffmpeg_missing()
    if missing:
        pytest.skip(missing)
    units = h264_access_units(shared_path(*CAR), str(tmp_path), 30, (384, 216))
    server = RtspServer(units, fps=25)

    def cut_after(taken):
        if taken == 10:
            server.stop()
            time.sleep(0.3)
            server.start(final=True)

    server.start(live=True)
    try:
        frames, source, messages = read_source(
            server.url, mode="all", reconnect=1, on_frame=cut_after
        )
    finally:
        server.stop()
    assert messages[1] == f"{server.url}: reconnected" and source.stats["reconnects"] == 1
    assert server.connections == 2 and server.completed == 1
    # The whole clip after the reconnection, numbered on from the frames before the cut.
    assert len(frames) >= 10 + 30 and [f.index for f in frames] == list(range(len(frames)))
    assert all(f.size == (384, 216) for f in frames)


# ---------------------------------------------------------------------- predict.py, for real
@pytest.mark.slow
def test_mjpeg_cut_mid_stream_reconnects_and_outputs_are_complete(cache, tmp_path):
    server = MjpegServer(jpeg_frames(video_frames(shared_path(*CAR), 60)), fps=12.5)
    args = ["--source", server.url, "--json", "s.json", "--save-dir", "out", "--reconnect", "3"]
    server.start()
    predict = Predict(V1_025 + args + ["--quiet"], cache, tmp_path)
    try:
        # The small socket buffers hold the server back until predict.py reads: 25 frames sent
        # means its reader is running.
        assert server.wait_for(lambda s: s.sent >= 25 or not predict.running(), timeout=60)
        assert predict.running(), predict.result(0).stderr
        server.stop()  # cut mid-stream
        time.sleep(1.0)
        server.start(final=True)  # back on the same port; stops for good after the clip
        assert server.wait_for(lambda s: s.completed >= 1, timeout=30)
        result = predict.result(timeout=40)
    finally:
        server.stop()
        predict.kill()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    name = server.url
    assert f"{name}: connection lost; reconnecting (1 of 3) in 0.5 s" in result.stderr
    assert f"{name}: reconnected" in result.stderr
    assert f"{name}: connection lost and not regained after 3 attempts" in result.stderr
    assert error_lines(result.stderr) == [
        f"error: {name}: the stream ended or was lost; the outputs hold what came before"
    ]
    records = assert_complete_outputs(tmp_path, "s.json", "127_0_0_1_stream")
    summary = records["summary"]
    assert summary["reconnects"] == 1 and summary["lost"] is True
    assert "reconnected 1 time; the stream ended or was lost" in result.stdout
    # Frames from both connections: more than the clip (60) less what latest mode dropped.
    assert summary["frames"] + summary["dropped"] > 60


@pytest.mark.slow
def test_model_slower_than_the_stream_drops_frames_in_latest_mode(cache, tmp_path):
    # At --input-size 1280 mobilenetv1-0.25 takes ~90 ms a frame here (2 cores, 0.8 s for the
    # first): less than half a 25 fps stream's pace, at best.
    server = MjpegServer(jpeg_frames(video_frames(shared_path(*CAR), 50)), fps=25)
    args = V1_025 + ["--input-size", "1280", "--source", server.url, "--save-dir", "out"]
    args += ["--reconnect", "0", "--quiet"]
    runs = {}
    try:
        for mode in ("latest", "all"):
            folder = tmp_path / mode
            folder.mkdir()
            server.start(final=True)
            predict = Predict(args + ["--stream-mode", mode, "--json", "r.json"], cache, folder)
            try:
                runs[mode] = predict.result(timeout=60)
            finally:
                predict.kill()
                server.stop()
            result = runs[mode]
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            ended = "the stream ended or was lost; the outputs hold what came before"
            assert error_lines(result.stderr) == [f"error: {server.url}: {ended}"]
    finally:
        server.stop()
    latest = assert_complete_outputs(tmp_path / "latest", "r.json", "127_0_0_1_stream")
    dropped = latest["summary"]["dropped"]
    assert dropped > 0 and latest["summary"]["frames"] + dropped == 50
    assert f"{dropped} frames dropped to keep up (--stream-mode latest)" in runs["latest"].stdout
    every = assert_complete_outputs(tmp_path / "all", "r.json", "127_0_0_1_stream")
    assert every["summary"]["dropped"] == 0 and every["summary"]["frames"] == 50
    assert "dropped" not in runs["all"].stdout


@pytest.mark.slow
def test_rtsp_stream_to_its_end(cache, tmp_path):
    missing = ffmpeg_missing()
    if missing:
        pytest.skip(missing)
    units = h264_access_units(shared_path(*CAR), str(tmp_path), 50, (768, 432))
    server = RtspServer(units, fps=12.5)
    server.start(final=True)
    args = ["--source", server.url, "--vid-stride", "2", "--json", "r.json", "--save-dir", "out"]
    # Every frame (latest, the default, would keep few: ~5 KB a frame, the whole clip waits
    # in the socket buffers while the model is built, and is read at once).
    args += ["--stream-mode", "all", "--reconnect", "0", "--quiet"]
    try:
        result = run_predict(V1_025 + args, cache, tmp_path)
    finally:
        server.stop()
    # A stream that ends is, to predict.py, a stream lost: exit 1 with the outputs complete.
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert error_lines(result.stderr) == [
        f"error: {server.url}: the stream ended or was lost; the outputs hold what came before"
    ]
    assert server.completed == 1
    records = assert_complete_outputs(tmp_path, "r.json", "127_0_0_1_cam")
    assert [r["frame"] for r in records["images"]] == list(range(0, 50, 2))
    assert records["summary"]["dropped"] == 0
    assert all(r["width"] == 768 and r["height"] == 432 for r in records["images"])


def test_stream_that_never_opens(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/x.mjpg"
    args = ["--source", url, "--json", "n.json", "--save-dir", "out"]
    result = run_predict(V1_025 + args, tmp_path / "no-cache", tmp_path)
    assert result.returncode == 2
    assert_clean_failure(result, url, "cannot open the stream")
    assert os.listdir(tmp_path) == []  # no video, no JSON, no save dir
