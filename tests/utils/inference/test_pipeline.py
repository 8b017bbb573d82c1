"""The prediction pipeline's seams, in process: a sink added with one registration sees every
frame; detector + tracker run end to end on the real MOT17-04 frames and the MOT file written
by --save-mot scores like the tracks held in memory; a failing sink leaves no half-written
run-long file."""

import os
from typing import ClassVar

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path
from utils.inference import jobs, sinks
from utils.inference.detector import Detector
from utils.inference.pipeline import Sink
from utils.inference.settings import PredictSettings
from utils.inference.sources import open_source
from utils.tracking.metrics import evaluate_tracks
from utils.tracking.mot import MotData, read_mot

MOT17 = ("tracking", "mot17_frames", "MOT17-04-FRCNN")


@pytest.fixture(scope="module")
def detector():
    return Detector.from_options(
        "mobilenetv1",
        0.25,
        shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
        conf=0.1,
        # The frames are 1920x1080 and the people small: a wide input keeps them visible.
        input_size=(544, 960),
    )


class KeepTracks(Sink):
    """Holds each frame's tracked boxes, as the tracker gave them (no text, no rounding)."""

    rows: ClassVar[list] = []

    def write(self, result):
        found = result.found
        for track_id, box, score in zip(found.track_ids, found.boxes, found.scores):
            x1, y1, x2, y2 = (float(v) for v in box)
            self.rows.append(
                (result.frame.index + 1, int(track_id), x1, y1, x2 - x1, y2 - y1, score)
            )


@pytest.fixture
def registered_sink():
    """KeepTracks added to the registry for one test, then removed."""
    KeepTracks.rows = []
    spec = sinks.register_sink("keep-tracks", lambda settings, source: True, lambda s: KeepTracks())
    yield KeepTracks
    sinks._SINKS.remove(spec)


def _in_memory(rows) -> MotData:
    table = np.asarray(rows, np.float64).reshape(-1, 7)
    n = len(table)
    return MotData(
        path="<in memory>",
        role="pred",
        layout="results",
        frames=table[:, 0].astype(np.int64),
        ids=table[:, 1].astype(np.int64),
        boxes=table[:, 2:6],
        scores=table[:, 6],
        classes=np.full(n, -1, np.int64),
        considered=np.ones(n, bool),
        lines=np.arange(1, n + 1),
    )


def test_tracking_the_mot17_frames_end_to_end(detector, registered_sink, tmp_path):
    frames = shared_path(*MOT17, "img1")
    settings = PredictSettings(
        save_dir=str(tmp_path / "out"),
        save_mot=str(tmp_path / "tracks-{class}.txt"),
        track="bytetrack",
        batch_size=4,
        quiet=True,
    )
    summary = jobs.predict_source(detector, open_source(frames), settings, log=lambda m: None)
    assert summary.frames == len(os.listdir(frames)) == 8
    tracking = summary.extra["tracking"]
    people = [t for t in tracking["tracks"] if t["class"] == "person"]
    assert len(people) >= 5, tracking  # a crowded street seen from above
    # Every frame reached the registered sink, and every tracked box is in the MOT file.
    assert {row[0] for row in registered_sink.rows} <= set(range(1, 9))
    written = read_mot(tmp_path / "tracks-person.txt", "pred")
    people_rows = [r for r in registered_sink.rows if r[1] in {t["track_id"] for t in people}]
    assert len(written) == len(people_rows)
    # The file reads back to the metrics of the tracks held in memory.
    gt = read_mot(shared_path(*MOT17, "gt", "gt.txt"), "gt").select(
        read_mot(shared_path(*MOT17, "gt", "gt.txt"), "gt").frames <= 8
    )
    from_file = evaluate_tracks(gt, written).as_dict()
    in_memory = evaluate_tracks(gt, _in_memory(people_rows)).as_dict()
    for name in ("IDSW", "FP", "FN"):
        assert from_file[name] == in_memory[name]
    # Boxes are written to 0.01 px: the overlaps move by about 1e-4.
    for name in ("MOTA", "IDF1", "HOTA", "MOTP"):
        assert abs(from_file[name] - in_memory[name]) < 0.05, name
    assert from_file["IDF1"] > 0 and from_file["FN"] < len(gt)  # the detector found people


class Broken(Sink):
    def write(self, result):
        if result.frame.index == 3:
            raise OSError("disk went away")


def test_a_failing_sink_leaves_no_half_written_video_or_json(detector, tmp_path):
    clip = tmp_path / "clip.mp4"
    capture = cv2.VideoCapture(shared_path("tracking", "videos", "car-detection.mp4"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 12.5, (192, 108))
    for _ in range(8):
        writer.write(cv2.resize(capture.read()[1], (192, 108)))
    writer.release()
    spec = sinks.register_sink("broken", lambda settings, source: True, lambda s: Broken())
    try:
        settings = PredictSettings(
            save_dir=str(tmp_path / "out"), json=str(tmp_path / "v.json"), quiet=True
        )
        with pytest.raises(OSError, match="disk went away"):
            jobs.predict_source(detector, open_source(str(clip)), settings, log=lambda m: None)
    finally:
        sinks._SINKS.remove(spec)
    assert not (tmp_path / "v.json").exists()
    leftovers = os.listdir(tmp_path / "out") if (tmp_path / "out").exists() else []
    assert leftovers == []
