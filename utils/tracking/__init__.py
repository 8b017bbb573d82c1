"""Multi-object tracking: the tracker registry, and what is built on tracks (MOT files, metrics,
line and zone counting).

A tracker is registered by name with a factory that builds one single-class tracker from
:class:`TrackerSettings` and the source's frame rate; :class:`ObjectTracker`
(:mod:`utils.tracking.adapter`) runs one per class and gives every track a project-wide id.
The trackers themselves come from the ``trackers`` library (:mod:`utils.tracking.library`),
imported only when a tracker is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from nets.errors import UserError


class TrackingError(UserError, ValueError):
    """A tracker or tracking file cannot be used (unknown name, bad MOT file, bad setting)."""


@dataclass(frozen=True)
class TrackerSettings:
    """What every tracker is tuned by; None leaves a tracker's own default.

    ``buffer_s`` is in seconds, so a lost track is kept for the same time whatever the frame
    rate (the shared videos run at 10-12.5 fps, cameras at 25-30).
    """

    buffer_s: float = 1.0  # how long a lost track waits to be found again
    high: float | None = None  # scores >= high are matched first; the rest in a second pass
    new: float | None = None  # the lowest score that starts a track
    match_iou: float | None = None  # the lowest IoU of a detection with a track to match it
    min_frames: int | None = None  # frames in a row before a new track gets an id


@dataclass(frozen=True)
class TrackerSpec:
    """A registered tracker: ``factory(settings, frame_rate)`` builds one, by module path so
    the library is imported only when a tracker is used."""

    name: str
    factory: str  # "module:function"
    description: str
    defaults: TrackerSettings  # the project's settings for this tracker
    uses_frames: bool = False  # wants the image (camera-motion compensation)

    def build(self, settings: TrackerSettings, frame_rate: float) -> Any:
        module, function = self.factory.split(":")
        make: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return make(self.merged(settings), frame_rate)

    def merged(self, settings: TrackerSettings) -> TrackerSettings:
        """``settings`` with this tracker's defaults where a setting is None."""
        values = {
            name: getattr(self.defaults, name)
            for name in ("high", "new", "match_iou", "min_frames")
            if getattr(settings, name) is None
        }
        return replace(settings, **values)


_TRACKERS: dict[str, TrackerSpec] = {}
DEFAULT_TRACKER = "bytetrack"


def register_tracker(spec: TrackerSpec) -> TrackerSpec:
    _TRACKERS[spec.name] = spec
    return spec


def tracker_names() -> list[str]:
    return list(_TRACKERS)


def get_tracker(name: str) -> TrackerSpec:
    try:
        return _TRACKERS[name]
    except KeyError:
        raise TrackingError(
            f"--track {name}: unknown tracker (choose from {', '.join(_TRACKERS)})"
        ) from None


def describe_trackers() -> str:
    return "; ".join(f"{spec.name}: {spec.description}" for spec in _TRACKERS.values())


# ByteTrack's own thresholds (its paper: the first association accepts IoU >= 0.2), with the
# score split lowered for a YOLO detector, whose scores (objectness x class) run lower than
# the Faster R-CNN scores the library's defaults were tuned on.
register_tracker(
    TrackerSpec(
        "bytetrack",
        "utils.tracking.library:bytetrack",
        "two passes, confident detections first, then the rest (default)",
        TrackerSettings(high=0.5, new=0.6, match_iou=0.2, min_frames=2),
    )
)
register_tracker(
    TrackerSpec(
        "botsort",
        "utils.tracking.library:botsort",
        "ByteTrack with camera-motion compensation",
        TrackerSettings(high=0.5, new=0.6, match_iou=0.2, min_frames=2),
        uses_frames=True,
    )
)
register_tracker(
    TrackerSpec(
        "ocsort",
        "utils.tracking.library:ocsort",
        "observation-centric SORT, steadier through occlusions",
        TrackerSettings(high=0.5, new=0.5, match_iou=0.3, min_frames=2),
    )
)
register_tracker(
    TrackerSpec(
        "sort",
        "utils.tracking.library:sort",
        "Kalman filter and IoU matching, the classic",
        TrackerSettings(high=0.5, new=0.5, match_iou=0.3, min_frames=3),
    )
)
