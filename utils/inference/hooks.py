"""Hooks act on each frame's detections before the sinks: the tracker, the counters.

``register_hook(name, wanted, make)`` adds one: ``wanted(settings)`` says whether a run asks
for it, ``make(settings, context)`` builds it. Hooks run in registration order (tracking
before counting, which counts tracks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils.inference.base import Detections
from utils.inference.pipeline import FrameResult, Hook, RunContext
from utils.inference.settings import PredictSettings

# Without a known frame rate (a folder of frames), a tracker assumes a camera's.
DEFAULT_FRAME_RATE = 30.0


@dataclass(frozen=True)
class HookSpec:
    name: str
    wanted: Callable[[PredictSettings], bool]
    make: Callable[[PredictSettings, RunContext], Hook]


_HOOKS: list[HookSpec] = []


def register_hook(name: str, wanted, make) -> HookSpec:
    spec = HookSpec(name, wanted, make)
    _HOOKS.append(spec)
    return spec


def make_hooks(settings: PredictSettings, context: RunContext) -> list[Hook]:
    """The hooks a run's settings ask for, in order."""
    return [spec.make(settings, context) for spec in _HOOKS if spec.wanted(settings)]


def hook_names() -> list[str]:
    return [spec.name for spec in _HOOKS]


class TrackerHook(Hook):
    """Gives each detection a track id; the frame's detections become its tracked ones."""

    name = "tracking"

    def __init__(self, settings: PredictSettings, context: RunContext) -> None:
        from utils.tracking.adapter import ObjectTracker
        from utils.tracking.offline import sequence_frame_rate

        # A folder of frames has no rate of its own; MOT's layout keeps one in seqinfo.ini.
        frame_rate = context.source.fps or sequence_frame_rate(
            context.source.name, DEFAULT_FRAME_RATE
        )
        self.tracker = ObjectTracker(
            settings.track or "bytetrack", settings.tracker_settings, frame_rate
        )
        self.class_names = context.class_names
        # Per track: [class id, frames seen, first frame, last frame].
        self.tracks: dict[int, list[int]] = {}

    def on_frame(self, result: FrameResult) -> None:
        found = result.detections
        assert found is not None
        frame = result.frame
        tracked = self.tracker.update(
            found.boxes, found.scores, found.class_ids, frame.timestamp, frame.image
        )
        result.detections = Detections(
            tracked.boxes,
            found.scores[tracked.indices],
            found.class_ids[tracked.indices],
            tracked.track_ids,
        )
        index = frame.index
        for track_id, class_id in zip(tracked.track_ids, result.detections.class_ids):
            entry = self.tracks.setdefault(int(track_id), [int(class_id), 0, index, index])
            entry[1] += 1
            entry[3] = index

    def summary(self) -> dict:
        settings = self.tracker.settings
        return {
            "tracker": self.tracker.name,
            "settings": {
                "buffer_s": settings.buffer_s,
                "high": settings.high,
                "new": settings.new,
                "match_iou": settings.match_iou,
                "min_frames": settings.min_frames,
            },
            "track_count": len(self.tracks),
            "tracks": [
                {
                    "track_id": track_id,
                    "class": self.class_names[class_id],
                    "frames": frames,
                    "first_frame": first,
                    "last_frame": last,
                }
                for track_id, (class_id, frames, first, last) in sorted(self.tracks.items())
            ],
        }

    def summary_lines(self) -> list[str]:
        per_class: dict[str, int] = {}
        for class_id, *_ in self.tracks.values():
            name = self.class_names[class_id]
            per_class[name] = per_class.get(name, 0) + 1
        listed = ", ".join(f"{name}: {n}" for name, n in sorted(per_class.items()))
        return [
            f"{self.tracker.name}: {len(self.tracks)} tracks" + (f" ({listed})" if listed else "")
        ]


class CounterHook(Hook):
    """--line and --zone: counts on each frame's record, on the drawing and at the end."""

    name = "counts"

    def __init__(self, settings: PredictSettings, context: RunContext) -> None:
        from utils.tracking.counting import Counters

        self.counters = Counters(settings.line or (), settings.zone or ())
        self.class_names = context.class_names

    def on_frame(self, result: FrameResult) -> None:
        found = result.detections
        assert found is not None
        names = [self.class_names[int(c)] for c in found.class_ids]
        result.counts = self.counters.update(result.frame.size, found.track_ids, found.boxes, names)

    def draw(self, image: Any, result: FrameResult) -> None:
        from PIL import ImageDraw

        from utils.inference.draw import draw_label

        draw = ImageDraw.Draw(image)
        width = max(2, int(round(sum(image.size) / 500)))
        y = 8
        for i, line in enumerate(self.counters.lines, 1):
            if not len(line.pixels):
                continue
            draw.line([tuple(p) for p in line.pixels], fill=(255, 255, 0), width=width)
            text = f"line {i}: " + "  ".join(
                f"{direction} {sum(c.values())}" for direction, c in line.counts.items()
            )
            y = draw_label(image, text, (8, y), (255, 255, 0)) + 4
        for i, zone in enumerate(self.counters.zones, 1):
            if not len(zone.pixels):
                continue
            points = [tuple(p) for p in zone.pixels]
            draw.line([*points, points[0]], fill=(0, 255, 255), width=width)
            inside = sum(zone.inside.values())
            total = sum(len(ids) for ids in zone.seen.values())
            y = draw_label(
                image, f"zone {i}: {inside} inside, {total} in all", (8, y), (0, 255, 255)
            )
            y += 4

    def summary(self) -> dict:
        return self.counters.record()

    def summary_lines(self) -> list[str]:
        return self.counters.summary_lines()


def _counts_wanted(settings: PredictSettings) -> bool:
    return bool(settings.line or settings.zone)


# Lines count tracks, so --line alone tracks with the default tracker.
register_hook("tracking", lambda s: bool(s.track or s.line or s.save_mot), TrackerHook)
register_hook("counts", _counts_wanted, CounterHook)


def tracked_centres(detections: Detections) -> dict[int, np.ndarray]:
    """{track id: box centre} of tracked detections (for drawing trails)."""
    if detections.track_ids is None:
        return {}
    boxes = detections.boxes
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    return {int(t): c for t, c in zip(detections.track_ids, centres)}
