"""The JSON form of a run: one record per image or video frame, and the run's summary."""

from __future__ import annotations

from typing import Any

from utils.inference.pipeline import RunSummary
from utils.inference.sources import FrameSource


def image_record(path, size, detections, class_names, frame=None) -> dict:
    """The JSON entry of one image (or video frame): boxes clipped to the image."""
    from utils.inference.base import detections_to_dicts

    width, height = size
    record: dict[str, Any] = {"file": path}
    if frame is not None:
        record["frame"] = frame
    record.update(
        width=width,
        height=height,
        detections=detections_to_dicts(detections, class_names, width, height),
    )
    return record


def failed_record(path: str, error: str) -> dict:
    """The JSON entry of an image that could not be read: the same keys as a read one, with
    no size, no detections and the reason, so a consumer iterates without special cases."""
    return {"file": path, "width": None, "height": None, "detections": [], "error": str(error)}


def run_record(summary: RunSummary, source: FrameSource) -> dict:
    """The JSON summary of a run: frames, the hooks' summaries, what the source counted."""
    record: dict[str, Any] = {}
    if source.is_video:
        record["frames"] = summary.frames
        record["stopped"] = summary.stopped
        stats = source.stats
        for key in ("dropped", "reconnects", "lost"):
            if key in stats:
                record[key] = stats[key]
        if stats.get("skipped"):
            record["skipped_frames"] = list(stats["skipped"])
    record.update(summary.extra)
    return record
