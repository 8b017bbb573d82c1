"""Sinks consume each frame's results: drawings, crops, labels, JSON, MOT files, the video,
the window and the progress bar.

``register_sink(name, wanted, make)`` adds one: ``wanted(settings, source)`` says whether a
run needs it, ``make(settings)`` builds it. Files are written atomically: per-image files one
by one, run-long files (the video, the JSON, the MOT file) under a temporary name put in
place when the run finishes, so a crash or Ctrl-C never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils import files
from utils.data.images import SAVE_EXTENSIONS
from utils.inference.pipeline import FrameResult, RunContext, RunSummary, Sink
from utils.inference.records import failed_record, image_record, run_record
from utils.inference.settings import PredictSettings
from utils.inference.sources import FrameSource, SourceError


@dataclass(frozen=True)
class SinkSpec:
    name: str
    wanted: Callable[[PredictSettings, FrameSource], bool]
    make: Callable[[PredictSettings], Sink]


_SINKS: list[SinkSpec] = []


def register_sink(name: str, wanted, make) -> SinkSpec:
    spec = SinkSpec(name, wanted, make)
    _SINKS.append(spec)
    return spec


def make_sinks(settings: PredictSettings, source: FrameSource) -> list[Sink]:
    """The sinks a run's settings ask for, in registration order."""
    return [spec.make(settings) for spec in _SINKS if spec.wanted(settings, source)]


def sink_names() -> list[str]:
    return [spec.name for spec in _SINKS]


def _drawn(sink: Sink, result: FrameResult) -> Any:
    render = sink.context.render
    assert render is not None
    return render(result)


# ------------------------------------------------------------------------------ helpers
def output_path(save_dir: str, source_path: str, suffix: str = "", extension: str | None = None):
    """``save_dir/<source stem><suffix><extension or the source's extension>``."""
    stem, ext = os.path.splitext(os.path.basename(source_path))
    return os.path.join(save_dir, stem + suffix + (extension or ext or ".png"))


def save_image(image: Any, path: str) -> str:
    """Save a PIL image atomically, creating folders; unusual extensions are saved as PNG."""
    if os.path.splitext(path)[1].lower() not in SAVE_EXTENSIONS:
        path = os.path.splitext(path)[0] + ".png"
    return files.write_image(path, image)


def frame_stem(result: FrameResult, source: FrameSource) -> str:
    """A name per image (its file's stem) or per video frame (``<video>_<frame>``)."""
    if source.is_video:
        return f"{source.output_stem}_{result.frame.index:06d}"
    return os.path.splitext(os.path.basename(result.frame.name))[0]


class _RunLongFile:
    """A file written over the whole run under a temporary name, put in place at the end."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None

    def open_temporary(self, path: str) -> str:
        self._stack = contextlib.ExitStack()
        return self._stack.enter_context(files.atomic_path(path))

    def commit(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def discard(self) -> None:
        if self._stack is not None:
            error = RuntimeError("discarded")
            self._stack.__exit__(RuntimeError, error, None)
            self._stack = None


# ------------------------------------------------------------------------------ image files
class DrawingsSink(Sink):
    """Each image's drawing saved under its own name in --save-dir, a line per image."""

    def __init__(self, settings: PredictSettings) -> None:
        self.settings = settings

    def write(self, result: FrameResult) -> None:
        from utils.inference.draw import count_by_class

        if not result.ok:
            print(f"skipped {result.frame.error}", file=sys.stderr)
            return
        found = result.found
        path = result.frame.name
        saved = save_image(_drawn(self, result), output_path(self.settings.save_dir, path))
        if not self.settings.quiet:
            plural = "" if len(found) == 1 else "s"
            self.context.log(f"{path}: {len(found)} object{plural} -> {saved}")
        if self.settings.count:
            counts = count_by_class(found, self.context.class_names)
            self.context.log(
                f"{os.path.basename(path)}: "
                + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no objects")
            )


class CropsSink(Sink):
    """--crop: every detected object as an image in SAVE_DIR/crops/."""

    def __init__(self, settings: PredictSettings) -> None:
        self.folder = os.path.join(settings.save_dir, "crops")

    def write(self, result: FrameResult) -> None:
        from PIL import Image

        from utils.inference.draw import crop_detections

        if not result.ok:
            return
        found = result.found
        stem = frame_stem(result, self.context.source)
        crops = crop_detections(Image.fromarray(result.image), found)
        for i, crop in enumerate(crops):
            if crop is not None:
                name = self.context.class_names[int(found.class_ids[i])].replace(" ", "_")
                save_image(crop, os.path.join(self.folder, f"{stem}_{i}_{name}.png"))


class LabelsSink(Sink):
    """--save-txt: YOLO-format labels, ``class cx cy w h`` as fractions of the image, one file
    per image or video frame in SAVE_DIR/labels/ (the layout YOLO training data uses)."""

    def __init__(self, settings: PredictSettings) -> None:
        self.folder = os.path.join(settings.save_dir, "labels")

    def write(self, result: FrameResult) -> None:
        if not result.ok:
            return
        width, height = result.frame.size
        found = result.found
        boxes = found.clipped_boxes(width, height)
        lines = [
            f"{int(c)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
            for (x1, y1, x2, y2), c in zip(boxes, found.class_ids)
        ]
        stem = frame_stem(result, self.context.source)
        text = "".join(line + "\n" for line in lines)
        files.write_text(os.path.join(self.folder, stem + ".txt"), text)


# ------------------------------------------------------------------------------ run-long files
class JsonSink(Sink):
    """--json: ``{"model", "images": [one record per image or frame], "summary"}``."""

    def __init__(self, settings: PredictSettings) -> None:
        self.path = settings.json
        self.records: list[dict] = []

    def write(self, result: FrameResult) -> None:
        frame = result.frame
        if not result.ok:
            self.records.append(failed_record(frame.name, frame.error or "unreadable"))
            return
        video = self.context.source.is_video
        record = image_record(
            frame.name,
            frame.size,
            result.detections,
            self.context.class_names,
            frame=frame.index if video else None,
        )
        if result.counts:
            record["counts"] = result.counts
        self.records.append(record)

    def finish(self, summary: RunSummary) -> None:
        document: dict[str, Any] = {"model": self.context.model, "images": self.records}
        closing = run_record(summary, self.context.source)
        if closing:
            document["summary"] = closing
        files.write_json(self.path, document)
        self.context.log(f"results -> {self.path}")


class MotSink(Sink):
    """--save-mot: tracks as MOT Challenge results, frames from 1; a ``{class}`` in the path
    writes one file per class (MOT tools score one class at a time)."""

    def __init__(self, settings: PredictSettings) -> None:
        self.path = str(settings.save_mot)
        self.lines: dict[str, list[str]] = {}

    def write(self, result: FrameResult) -> None:
        from utils.tracking.mot import mot_lines

        found = result.detections
        if found is None or found.track_ids is None:
            return
        number = result.frame.index + 1
        names = self.context.class_names
        per_file = "{class}" in self.path
        for class_id in np.unique(found.class_ids) if per_file else [None]:
            chosen = np.ones(len(found), bool) if class_id is None else found.class_ids == class_id
            path = (
                self.path.replace("{class}", names[int(class_id)].replace(" ", "_"))
                if class_id is not None
                else self.path
            )
            self.lines.setdefault(path, []).extend(
                mot_lines(
                    number, found.track_ids[chosen], found.boxes[chosen], found.scores[chosen]
                )
            )

    def finish(self, summary: RunSummary) -> None:
        if "{class}" not in self.path:
            self.lines.setdefault(self.path, [])
        for path, lines in self.lines.items():
            files.write_text(path, "".join(line + "\n" for line in lines))
            self.context.log(f"tracks -> {path} ({len(lines)} rows)")


class VideoSink(_RunLongFile, Sink):
    """The drawn frames as one mp4 in --save-dir, named after the source."""

    def __init__(self, settings: PredictSettings) -> None:
        super().__init__()
        self.save_dir = settings.save_dir
        self.writer: Any = None
        self.written = 0

    def start(self, context: RunContext) -> None:
        super().start(context)
        self.path = os.path.join(self.save_dir, context.source.output_stem + ".mp4")
        self.tmp_path = self.open_temporary(self.path)

    def write(self, result: FrameResult) -> None:
        import cv2

        bgr = cv2.cvtColor(np.asarray(_drawn(self, result)), cv2.COLOR_RGB2BGR)
        if self.writer is None:
            height, width = bgr.shape[:2]
            fps = self.context.source.fps or 25.0
            fps /= self.context.source.stride
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self.writer = cv2.VideoWriter(self.tmp_path, fourcc, fps, (width, height))
            if not self.writer.isOpened():
                raise SourceError(f"{self.path}: cannot open a video writer (mp4v)")
        self.writer.write(bgr)
        self.written += 1

    def _release(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def finish(self, summary: RunSummary) -> None:
        self._release()
        source = self.context.source
        if not self.written:
            self.discard()
            raise SourceError(f"{source.name}: no frame could be read")
        self.commit()
        if summary.stopped:
            print(f"stopped by user after {self.written} frames", file=sys.stderr)
        problems = source.summary()
        self.context.log(
            f"{source.name}: {self.written} frames -> {self.path}"
            + (f" ({problems})" if problems else "")
        )

    def abort(self) -> None:
        self._release()
        self.discard()


class WindowSink(Sink):
    """--show: each drawing in a window; Esc or q stops a video, a key closes the last image."""

    threaded = False  # OpenCV's GUI wants the thread that made the window

    def write(self, result: FrameResult) -> None:
        from utils.inference.window import QUIT_KEYS, show_image

        if result.ok and show_image(_drawn(self, result)) in QUIT_KEYS:
            self.context.stop.append("window")

    def finish(self, summary: RunSummary) -> None:
        from utils.inference.window import wait_for_key

        if not self.context.source.is_video and summary.frames:
            wait_for_key()


class ProgressSink(Sink):
    """A video's progress bar with the running FPS and object count."""

    def __init__(self, settings: PredictSettings) -> None:
        self.bar: Any = None
        self.fps = 0.0
        self._last: float | None = None
        self.frames = 0

    def start(self, context: RunContext) -> None:
        from tqdm import tqdm

        super().start(context)
        source = context.source
        self.bar = tqdm(
            total=source.total or None,
            unit="frame",
            desc=source.output_stem,
            file=sys.stderr,
        )
        # Messages from the source and the sinks go above the bar, not through it.
        self._log = context.log
        context.log = lambda message: self.bar.write(message)

    def write(self, result: FrameResult) -> None:
        now = time.perf_counter()
        if self._last is not None:
            rate = 1.0 / max(now - self._last, 1e-6)
            # The first frame pays for tracing the graph: start the running figure after it.
            self.fps = rate if self.frames <= 1 else 0.9 * self.fps + 0.1 * rate
        self._last = now
        self.frames += 1
        objects = len(result.found) if result.ok else 0
        self.bar.update(1)
        self.bar.set_postfix(fps=f"{self.fps:.1f}", objects=objects)

    def finish(self, summary: RunSummary) -> None:
        self.bar.close()
        self.context.log = self._log

    def abort(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _images(settings: PredictSettings, source: FrameSource) -> bool:
    return not source.is_video


def _video(settings: PredictSettings, source: FrameSource) -> bool:
    return source.is_video


# Order matters where sinks log: the progress bar first (it routes messages above itself),
# the video's closing line before the JSON's.
register_sink("progress", lambda s, src: src.is_video and not s.quiet, ProgressSink)
register_sink("drawings", _images, DrawingsSink)
register_sink("video", _video, VideoSink)
register_sink("crops", lambda s, src: s.crop, CropsSink)
register_sink("labels", lambda s, src: s.save_txt, LabelsSink)
register_sink("mot", lambda s, src: bool(s.save_mot), MotSink)
register_sink("json", lambda s, src: bool(s.json), JsonSink)
register_sink("window", lambda s, src: s.show, lambda s: WindowSink())
