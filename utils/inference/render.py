"""Drawing a frame's results once for every sink that shows or saves it: boxes with their
track ids and trails, the hooks' overlays (lines, zones, counts), a live source's FPS."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from utils.inference.pipeline import FrameResult, RunContext

# How long a track's trail reaches back.
TRAIL_SECONDS = 1.5


class Renderer:
    """Draws a frame's results once (boxes, track ids and trails, the hooks' overlays, a live
    source's FPS); every sink that needs the drawing shares it."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        fps = context.source.fps or 25.0
        self.trail_frames = max(int(TRAIL_SECONDS * fps), 2)
        self.trails: dict[int, deque] = {}
        self.last_seen: dict[int, int] = {}
        self.fps = 0.0
        self._last_time: float | None = None
        self.frames = 0

    def __call__(self, result: FrameResult) -> Any:
        drawn = result.extra.get("drawn")
        if drawn is None:
            drawn = result.extra["drawn"] = self._draw(result)
        return drawn

    def _draw(self, result: FrameResult) -> Any:
        from PIL import Image

        from utils.inference.draw import draw_detections, draw_label, draw_trails

        image = Image.fromarray(result.image)  # a copy of the frame, drawn on in place
        found = result.detections
        drawn = draw_detections(image, found, self.context.class_names, copy=False)
        if found is not None and found.track_ids is not None:
            draw_trails(drawn, self._update_trails(result), max(2, sum(image.size) // 600))
        for hook in self.context.hooks:
            hook.draw(drawn, result)
        if self.context.source.live:
            self._tick()
            draw_label(drawn, f"{self.fps:.1f} FPS", (8, drawn.size[1] - 40), (0, 255, 0))
        return drawn

    def _update_trails(self, result: FrameResult) -> dict[int, list]:
        from utils.inference.hooks import tracked_centres

        index = result.frame.index
        for track_id, centre in tracked_centres(result.found).items():
            self.trails.setdefault(track_id, deque(maxlen=self.trail_frames)).append(centre)
            self.last_seen[track_id] = index
        for track_id in [t for t, seen in self.last_seen.items() if index - seen > 1]:
            # A track out of sight loses its trail (and its memory here).
            self.trails.pop(track_id, None)
            self.last_seen.pop(track_id, None)
        return {t: list(points) for t, points in self.trails.items()}

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last_time is not None:
            rate = 1.0 / max(now - self._last_time, 1e-6)
            self.fps = rate if self.frames <= 1 else 0.9 * self.fps + 0.1 * rate
        self._last_time = now
        self.frames += 1
