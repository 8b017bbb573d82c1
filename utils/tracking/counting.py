"""Counting tracked objects: crossings of a line, per direction and class; presence in a zone.

Geometry comes from the command line as numbers: integers are pixels, numbers with a decimal
point are fractions of the frame (``0.5`` is the middle), so one line works for any video size.
An object's position is the centre of its box.

A track is counted once per line, in the direction of its first crossing: a car that stops on
the line and jitters across it is one car, not ten. Directions are named by how the object
moves across the line: ``up``/``down`` for a line closer to horizontal, ``left``/``right``
otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from utils.tracking import TrackingError


def parse_points(text: str, flag: str, minimum: int) -> list[tuple[float, float, bool, bool]]:
    """'x1,y1,x2,y2,...' -> [(x, y, x is a fraction, y is a fraction)], at least ``minimum``
    points; raises TrackingError naming the flag."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if len(parts) % 2 or len(parts) < 2 * minimum:
        raise TrackingError(
            f"{flag} {text}: needs {'x1,y1,x2,y2' if minimum == 2 else 'x1,y1,x2,y2,x3,y3,...'}"
            f" ({minimum} or more points as x,y pairs)"
        )
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise TrackingError(f"{flag} {text}: {part!r} is not a number") from None
        fraction = any(c in part for c in ".eE")
        if not np.isfinite(value) or value < 0 or (fraction and value > 1):
            raise TrackingError(
                f"{flag} {text}: {part} is outside the frame (pixels >= 0, fractions 0-1)"
            )
        values.append((value, fraction))
    return [
        (values[i][0], values[i + 1][0], values[i][1], values[i + 1][1])
        for i in range(0, len(values), 2)
    ]


def to_pixels(points, size: tuple[int, int]) -> np.ndarray:
    """Resolve parsed points for a frame of ``size`` (width, height) -> (N, 2) pixels."""
    width, height = size
    return np.array(
        [(x * width if fx else x, y * height if fy else y) for x, y, fx, fy in points],
        np.float64,
    )


def box_centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def _side(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> float:
    """> 0 on one side of the line a->b, < 0 on the other (the cross product's sign)."""
    return float((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))


def _segments_cross(a, b, p, q) -> bool:
    """Whether the move p->q crosses the segment a-b (not only the infinite line)."""
    d1, d2 = _side(a, b, p), _side(a, b, q)
    d3, d4 = _side(p, q, a), _side(p, q, b)
    return d1 * d2 < 0 and d3 * d4 <= 0


@dataclass
class LineCounter:
    """Crossings of one line by tracks, per direction and class."""

    text: str
    points: list = field(default_factory=list)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _last: dict[int, np.ndarray] = field(default_factory=dict)
    _counted: set = field(default_factory=set)

    @classmethod
    def parse(cls, text: str) -> LineCounter:
        line = cls(text, parse_points(text, "--line", 2))
        if len(line.points) != 2:
            raise TrackingError(f"--line {text}: needs exactly two points, x1,y1,x2,y2")
        return line

    @property
    def directions(self) -> tuple[str, str]:
        """(the name of a move to the line's left-hand side, to its right-hand side)."""
        a, b = self.pixels
        if abs(b[0] - a[0]) >= abs(b[1] - a[1]):
            # Image y grows downwards: for a line drawn left to right, "left-hand" is up.
            return ("up", "down") if b[0] >= a[0] else ("down", "up")
        return ("right", "left") if b[1] >= a[1] else ("left", "right")

    def resolve(self, size: tuple[int, int]) -> None:
        self.pixels = to_pixels(self.points, size)
        if np.allclose(self.pixels[0], self.pixels[1]):
            raise TrackingError(f"--line {self.text}: its two points are the same")
        self.counts = {direction: {} for direction in self.directions}

    def update(self, track_ids: Sequence[int], centres: np.ndarray, classes: Sequence[str]):
        """Count the tracks whose centre crossed the line since their last position."""
        a, b = self.pixels
        for track_id, centre, name in zip(track_ids, centres, classes):
            track_id = int(track_id)
            previous = self._last.get(track_id)
            self._last[track_id] = centre
            if previous is None or track_id in self._counted:
                continue
            if _segments_cross(a, b, previous, centre):
                direction = self.directions[0 if _side(a, b, centre) < 0 else 1]
                self.counts[direction][name] = self.counts[direction].get(name, 0) + 1
                self._counted.add(track_id)

    def record(self) -> dict:
        return {
            "line": [round(float(v), 1) for v in self.pixels.reshape(-1)],
            **{direction: dict(sorted(c.items())) for direction, c in self.counts.items()},
        }


@dataclass
class ZoneCounter:
    """Objects inside one polygon: per frame, and distinct tracks over the whole run."""

    text: str
    points: list = field(default_factory=list)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    inside: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ZoneCounter:
        return cls(text, parse_points(text, "--zone", 3))

    def resolve(self, size: tuple[int, int]) -> None:
        self.pixels = to_pixels(self.points, size)
        area = 0.5 * abs(
            np.dot(self.pixels[:, 0], np.roll(self.pixels[:, 1], 1))
            - np.dot(self.pixels[:, 1], np.roll(self.pixels[:, 0], 1))
        )
        if area < 1.0:
            raise TrackingError(f"--zone {self.text}: the polygon has no area")

    def contains(self, centres: np.ndarray) -> np.ndarray:
        import cv2

        contour = self.pixels.astype(np.float32).reshape(-1, 1, 2)
        return np.array(
            [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in centres],
            bool,
        )

    def update(self, track_ids, centres: np.ndarray, classes: Sequence[str]) -> None:
        self.inside = {}
        for is_inside, track_id, name in zip(self.contains(centres), track_ids, classes):
            if not is_inside:
                continue
            self.inside[name] = self.inside.get(name, 0) + 1
            if track_id is not None:
                self.seen.setdefault(name, set()).add(int(track_id))

    def record(self) -> dict:
        return {
            "zone": [round(float(v), 1) for v in self.pixels.reshape(-1)],
            "inside": dict(sorted(self.inside.items())),
            "total": {name: len(ids) for name, ids in sorted(self.seen.items())},
        }


class Counters:
    """Every --line and --zone of a run, resolved against the first frame's size."""

    def __init__(self, lines: Sequence[str] = (), zones: Sequence[str] = ()) -> None:
        self.lines = [LineCounter.parse(text) for text in lines or ()]
        self.zones = [ZoneCounter.parse(text) for text in zones or ()]
        self._size: tuple[int, int] | None = None

    def __bool__(self) -> bool:
        return bool(self.lines or self.zones)

    def update(self, size, track_ids, boxes: np.ndarray, classes: Sequence[str]) -> dict:
        """Count one frame's tracked boxes; returns the frame's counts record."""
        if self._size is None:
            self._size = tuple(size)
            for line in self.lines:
                line.resolve(self._size)
            for zone in self.zones:
                zone.resolve(self._size)
        centres = box_centres(boxes)
        ids: list = list(track_ids) if track_ids is not None else [None] * len(centres)
        for line in self.lines:
            if track_ids is not None:
                line.update(ids, centres, classes)
        for zone in self.zones:
            zone.update(ids, centres, classes)
        return self.record()

    def record(self) -> dict:
        record = {}
        if self.lines and self._size is not None:
            record["lines"] = [line.record() for line in self.lines]
        if self.zones and self._size is not None:
            record["zones"] = [zone.record() for zone in self.zones]
        return record

    def summary_lines(self) -> list[str]:
        """The final counts as text, one line per line or zone."""
        out = []
        for i, line in enumerate(self.lines, 1):
            if not len(line.pixels):
                continue
            parts = [
                f"{direction} {sum(c.values())}" + (f" ({_per_class(c)})" if c else "")
                for direction, c in line.counts.items()
            ]
            out.append(f"line {i} ({line.text}): " + ", ".join(parts))
        for i, zone in enumerate(self.zones, 1):
            if not len(zone.pixels):
                continue
            totals = {name: len(ids) for name, ids in zone.seen.items()}
            out.append(
                f"zone {i}: {sum(totals.values())} distinct objects"
                + (f" ({_per_class(totals)})" if totals else "")
            )
        return out


def _per_class(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
