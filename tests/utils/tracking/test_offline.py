"""Tracking precomputed detections: every frame fed at its time, and the sequence's frame rate."""

from typing import ClassVar

import numpy as np

from tests.conftest import shared_path
from utils.tracking import TrackerSettings
from utils.tracking import offline as offline_module
from utils.tracking.adapter import Tracked
from utils.tracking.mot import data_lines, parse_mot, read_mot
from utils.tracking.offline import sequence_frame_rate, track_detections


class Recorder:
    """An ObjectTracker stand-in that keeps what it is fed and tracks every box as id 1..."""

    calls: ClassVar[list] = []

    def __init__(self, name, settings, frame_rate):
        self.args = (name, settings, frame_rate)

    def update(self, boxes, scores, class_ids, timestamp=None):
        Recorder.calls.append((len(boxes), timestamp, boxes.copy()))
        n = len(boxes)
        return Tracked(np.arange(n), np.arange(1, n + 1), boxes.astype(np.float32))


def test_every_frame_is_fed_at_its_time_empty_ones_too(monkeypatch):
    monkeypatch.setattr(offline_module, "ObjectTracker", Recorder)
    Recorder.calls = []
    det = parse_mot(["2,-1,10,20,30,40,0.9", "5,-1,1,2,3,4,0.8", "5,-1,5,5,5,5,0.7"], "det")
    tracks = track_detections(det, "bytetrack", TrackerSettings(), frame_rate=10)
    assert [(n, t) for n, t, _ in Recorder.calls] == [
        (0, 0.0),
        (1, 0.1),
        (0, 0.2),
        (0, 0.3),
        (2, 0.4),
    ]
    np.testing.assert_allclose(Recorder.calls[1][2], [[10, 20, 40, 60]])  # xyxy
    assert data_lines(tracks) == [
        "2,1,10.00,20.00,30.00,40.00,0.900000,-1,-1,-1",
        "5,1,1.00,2.00,3.00,4.00,0.800000,-1,-1,-1",
        "5,2,5.00,5.00,5.00,5.00,0.700000,-1,-1,-1",
    ]


def test_a_real_tracker_on_real_detections():
    det = read_mot(shared_path("tracking", "mot15", "TUD-Campus", "det.txt"), "det")
    tracks = track_detections(det, "sort", None, 25)
    assert tracks.role == "pred" and tracks.considered.all() and (tracks.ids >= 1).all()
    assert 0 < len(tracks) <= len(det) and tracks.last_frame <= det.last_frame
    # Every track has one box per frame.
    pairs = set(zip(tracks.frames.tolist(), tracks.ids.tolist()))
    assert len(pairs) == len(tracks)


def test_the_frame_rate_comes_from_seqinfo(tmp_path):
    assert sequence_frame_rate(shared_path("tracking", "mot15", "TUD-Campus", "det.txt")) == 25
    assert sequence_frame_rate(shared_path("tracking", "mot15", "ETH-Bahnhof", "gt.txt")) == 14
    # MOT17 keeps gt.txt in gt/, beside seqinfo.ini.
    mot17 = shared_path("tracking", "mot17_frames", "MOT17-04-FRCNN", "gt", "gt.txt")
    assert sequence_frame_rate(mot17) == 30
    assert sequence_frame_rate(tmp_path / "det.txt") == 30
    assert sequence_frame_rate(tmp_path / "det.txt", default=12.5) == 12.5
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=fast\n")
    assert sequence_frame_rate(tmp_path / "det.txt") == 30
    (tmp_path / "seqinfo.ini").write_text("not an ini file")
    assert sequence_frame_rate(tmp_path / "det.txt") == 30
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=7.5\n")
    assert sequence_frame_rate(tmp_path / "det.txt") == 7.5
