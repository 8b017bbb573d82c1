"""Run a tracker over precomputed detections (a MOT ``det.txt``), as tracking benchmarks
compare trackers: the same detections for all, so only the tracking differs."""

from __future__ import annotations

import configparser
import os
from dataclasses import replace

import numpy as np

from utils.tracking import TrackerSettings, TrackingError
from utils.tracking.adapter import ObjectTracker, Tracked
from utils.tracking.mot import MotData, mot_lines, parse_mot

DEFAULT_FRAME_RATE = 30.0


def track_detections(
    det: MotData,
    tracker: str,
    settings: TrackerSettings | None = None,
    frame_rate: float = DEFAULT_FRAME_RATE,
) -> MotData:
    """The tracks ``tracker`` makes of the detections ``det``, as MOT result rows.

    Every frame from 1 to the last detection's is fed, empty ones included, at its time
    ``(frame - 1) / frame_rate``, so lost tracks age as in the video. The rows are exactly
    what :func:`~utils.tracking.mot.write_mot` writes (boxes to 2 decimals), so scoring them
    in memory and scoring the written file agree.
    """
    return tracks_as_rows(tracked_frames(det, tracker, settings, frame_rate), det, tracker)


def tracked_frames(
    det: MotData,
    tracker: str,
    settings: TrackerSettings | None = None,
    frame_rate: float = DEFAULT_FRAME_RATE,
) -> list[tuple[int, Tracked, np.ndarray]]:
    """The tracking loop of :func:`track_detections` alone (what a speed test times):
    ``(frame, tracked, scores of the tracked detections)`` per frame."""
    if not frame_rate > 0:
        raise TrackingError(f"the frame rate must be above 0, got {frame_rate}")
    runner = ObjectTracker(tracker, settings, frame_rate)
    xyxy = np.concatenate([det.boxes[:, :2], det.boxes[:, :2] + det.boxes[:, 2:]], axis=1)
    order = np.argsort(det.frames, kind="stable")
    bounds = np.searchsorted(det.frames[order], np.arange(det.last_frame + 2))
    no_class = np.zeros(len(det), np.int64)
    frames = []
    for frame in range(1, det.last_frame + 1):
        rows = order[bounds[frame] : bounds[frame + 1]]
        tracked = runner.update(
            xyxy[rows], det.scores[rows], no_class[rows], timestamp=(frame - 1) / frame_rate
        )
        frames.append((frame, tracked, det.scores[rows][tracked.indices]))
    return frames


def tracks_as_rows(
    frames: list[tuple[int, Tracked, np.ndarray]], det: MotData, tracker: str
) -> MotData:
    """:func:`tracked_frames`' output as MOT result rows, rounded as written."""
    lines: list[str] = []
    for frame, tracked, scores in frames:
        lines += mot_lines(frame, tracked.track_ids, tracked.boxes, scores)
    if not lines:
        return _no_tracks(det)
    return parse_mot(lines, "pred", f"{tracker} tracks of {det.path}")


def _no_tracks(det: MotData) -> MotData:
    """An empty result (a tracker that started no track): scored as all misses."""
    empty = det.select(np.zeros(len(det), bool))
    return replace(empty, path=f"tracks of {det.path}", role="pred", layout="results")


def sequence_frame_rate(path: str | os.PathLike, default: float = DEFAULT_FRAME_RATE) -> float:
    """The ``frameRate`` of the ``seqinfo.ini`` beside a sequence's file (in its folder or the
    one above, as MOT17's ``gt/gt.txt`` has it), else ``default``."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    for where in (folder, os.path.dirname(folder)):
        info = os.path.join(where, "seqinfo.ini")
        if not os.path.isfile(info):
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(info, encoding="utf-8")
            rate = float(parser.get("Sequence", "frameRate"))
        except (configparser.Error, ValueError, UnicodeDecodeError):
            continue
        if np.isfinite(rate) and rate > 0:
            return rate
    return float(default)
