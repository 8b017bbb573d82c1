"""What predict.py does with a detector: images and folders, videos and cameras, timing, heat maps.

Each job takes a :class:`utils.inference.detector.Detector` and plain arguments, writes its files,
reports
through ``log`` (``print`` by default) and returns JSON-ready records, so it can be used from
Python as well as from the command line.
"""

import os
import signal
import sys
import threading
import time

from utils import files
from utils.data.images import SAVE_EXTENSIONS
from utils.inference.sources import SourceError, open_capture, show_image
from utils.options import default


def image_record(path, image, detections, class_names, frame=None):
    """The JSON entry of one image (or video frame): boxes clipped to the image."""
    from utils.inference.base import detections_to_dicts

    width, height = image.size
    record = {"file": path}
    if frame is not None:
        record["frame"] = frame
    record.update(
        width=width,
        height=height,
        detections=detections_to_dicts(detections, class_names, width, height),
    )
    return record


def failed_record(path, error):
    """The JSON entry of an image that could not be read: the same keys as a read one, with
    no size, no detections and the reason, so a consumer iterates without special cases."""
    return {"file": path, "width": None, "height": None, "detections": [], "error": str(error)}


def output_path(save_dir, source_path, suffix="", extension=None):
    """``save_dir/<source stem><suffix><extension or the source's extension>``."""
    stem, ext = os.path.splitext(os.path.basename(source_path))
    return os.path.join(save_dir, stem + suffix + (extension or ext or ".png"))


def save_image(image, path):
    """Save a PIL image atomically, creating folders; unusual extensions are saved as PNG."""
    if os.path.splitext(path)[1].lower() not in SAVE_EXTENSIONS:
        path = os.path.splitext(path)[0] + ".png"
    return files.write_image(path, image)


def _save_crops(image, detections, class_names, source_path, crop_dir):
    from utils.inference.draw import crop_detections

    stem = os.path.splitext(os.path.basename(source_path))[0]
    for i, crop in enumerate(crop_detections(image, detections)):
        if crop is not None:
            name = class_names[int(detections.class_ids[i])].replace(" ", "_")
            save_image(crop, os.path.join(crop_dir, f"{stem}_{i}_{name}.png"))


def _readable_images(paths, failures, records=None):
    """Yield (path, image) for each readable image; report and record the others, go on."""
    from utils.data.images import ImageLoadError, load_image

    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            failures.append(path)
            print(f"skipped {exc}", file=sys.stderr)
            if records is not None:
                records.append(failed_record(path, exc))
            continue
        yield path, image


def predict_images(
    detector,
    paths,
    save_dir,
    crop=False,
    count=False,
    show=False,
    log=print,
    verbose=True,
    batch_size=1,
):
    """Detect on image files, ``batch_size`` images per run of the detector; save each drawing to
    ``save_dir`` under the file's name.

    Unreadable images are reported through ``log`` (by name, with the reason) and skipped.
    Returns ``(records, failures)``: JSON records in the order of ``paths`` (for a skipped image,
    an empty ``"detections"`` list and an ``"error"``) and the paths that could not be read.
    """
    from utils.inference.base import detect_in_batches
    from utils.inference.draw import count_by_class, draw_detections

    names = detector.class_names
    records: list[dict] = []
    failures: list[str] = []
    readable = _readable_images(paths, failures, records)
    for path, image, detections in detect_in_batches(detector, readable, batch_size):
        records.append(image_record(path, image, detections, names))
        drawn = draw_detections(image, detections, names)
        saved = save_image(drawn, output_path(save_dir, path))
        if verbose:
            plural = "" if len(detections) == 1 else "s"
            log(f"{path}: {len(detections)} object{plural} -> {saved}")
        if count:
            counts = count_by_class(detections, names)
            log(
                f"{os.path.basename(path)}: "
                + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no objects")
            )
        if crop:
            _save_crops(image, detections, names, path, os.path.join(save_dir, "crops"))
        if show:
            show_image(drawn)
    if show and len(failures) < len(paths):
        import cv2

        cv2.waitKey(0)  # keep the last window open until a key is pressed
    # A skipped image's record was added when it was met, before its batch's: restore the order.
    position = {path: i for i, path in enumerate(paths)}
    records.sort(key=lambda record: position.get(record["file"], len(paths)))
    return records, failures


# A camera or file that fails this many reads in a row has ended (or is gone).
MAX_BAD_FRAMES_IN_A_ROW = 25


def predict_video(
    detector,
    kind,
    value,
    save_dir,
    collect_records=False,
    show=False,
    progress=True,
    log=print,
    capture=None,
):
    """Detect on every frame of a video file (``kind="video"``) or camera (``"camera"``) and
    write an annotated mp4 to ``save_dir``, with a progress bar and a live FPS figure.

    A frame that cannot be decoded is reported by its number and skipped; the video goes on.
    Ctrl-C (or Esc/q in the --show window) stops after the current frame and the file is
    finalised; the mp4 appears under its name only once complete. Returns the per-frame records
    (when ``collect_records``), ``frame`` being the frame's number in the source.
    """
    import cv2
    from tqdm import tqdm

    capture = capture if capture is not None else open_capture(kind, value)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and 1.0 <= fps <= 240.0 else 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else 0
    name = (
        f"camera{value}.mp4"
        if kind == "camera"
        else os.path.splitext(os.path.basename(value))[0] + ".mp4"
    )
    out_path = os.path.join(save_dir, name)
    source_name = str(value) if kind == "video" else f"camera:{value}"
    bar = tqdm(total=total or None, unit="frame", desc=name, disable=not progress, file=sys.stderr)
    # Ctrl-C asks to stop; the frame in progress is finished (video and JSON stay in step).
    stop = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous_handler = signal.signal(signal.SIGINT, lambda signum, _: stop.append(signum))
    loop = _VideoLoop(detector, kind, source_name, fps, collect_records, show, bar)
    try:
        with files.atomic_path(out_path) as tmp_path:
            try:
                loop.run(capture, tmp_path, stop)
            finally:
                capture.release()
                loop.release()
            if not loop.written:
                raise SourceError(f"{source_name}: no frame could be read")
        if stop:
            bar.write(f"stopped by user after {loop.written} frames", file=sys.stderr)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous_handler)
        bar.close()
    skipped = (
        f" ({len(loop.bad_frames)} unreadable frame"
        f"{'s' if len(loop.bad_frames) != 1 else ''} skipped: "
        f"{_number_list(loop.bad_frames)})"
        if loop.bad_frames
        else ""
    )
    log(f"{source_name}: {loop.written} frames -> {out_path}{skipped}")
    return loop.records


def _number_list(numbers, shown=10):
    text = ", ".join(str(n) for n in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


class _VideoLoop:
    """The frame loop of :func:`predict_video`: read, detect, draw, write, record."""

    def __init__(self, detector, kind, source_name, fps, collect_records, show, bar):
        self.detector, self.kind, self.source_name = detector, kind, source_name
        self.fps, self.collect_records, self.show, self.bar = fps, collect_records, show, bar
        self.writer, self.records, self.bad_frames = None, [], []
        self.written, self.smoothed_fps = 0, 0.0

    def run(self, capture, out_path, stop):
        position, failed_in_a_row = 0, []
        while not stop:
            ok, frame = capture.read()
            if not ok:
                # Unreadable frames count as skipped only once a later frame is read: failures
                # at the end are the end of the file.
                failed_in_a_row.append(position)
                position += 1
                if len(failed_in_a_row) >= MAX_BAD_FRAMES_IN_A_ROW:
                    break
                continue
            for number in failed_in_a_row:
                self.bar.write(
                    f"{self.source_name}: frame {number} could not be decoded, skipped",
                    file=sys.stderr,
                )
            self.bad_frames += failed_in_a_row
            failed_in_a_row = []
            drawn = self._process(frame, position, out_path)
            position += 1
            if self.show and show_image(drawn) in (27, ord("q")):
                break

    def _process(self, frame, position, out_path):
        import cv2
        import numpy as np
        from PIL import Image

        from utils.inference.draw import draw_detections

        start = time.perf_counter()
        image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        detections = self.detector.detect(image)
        drawn = draw_detections(image, detections, self.detector.class_names)
        rate = 1.0 / max(time.perf_counter() - start, 1e-6)
        # The first frame pays for tracing the graph: start the running figure after it.
        self.smoothed_fps = rate if self.written <= 1 else 0.9 * self.smoothed_fps + 0.1 * rate
        bgr = cv2.cvtColor(np.asarray(drawn), cv2.COLOR_RGB2BGR)
        if self.kind == "camera":
            cv2.putText(
                bgr,
                f"{self.smoothed_fps:.1f} FPS",
                (10, 30),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                (0, 255, 0),
                2,
            )
        if self.writer is None:
            height, width = bgr.shape[:2]
            self.writer = cv2.VideoWriter(
                out_path, cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (width, height)
            )
            if not self.writer.isOpened():
                raise SourceError(f"{out_path}: cannot open a video writer (mp4v)")
        self.writer.write(bgr)
        if self.collect_records:
            self.records.append(
                image_record(
                    self.source_name, image, detections, self.detector.class_names, frame=position
                )
            )
        self.written += 1
        self.bar.update(1)
        self.bar.set_postfix(fps=f"{self.smoothed_fps:.1f}", objects=len(detections))
        return drawn

    def release(self):
        if self.writer is not None:
            self.writer.release()


def time_detector(detector, image, runs=default("runs"), warmup=3):
    """Latency of ``detector`` on one PIL image over ``runs`` calls after ``warmup`` calls.

    Returns mean and median ms end to end (preprocess + model + decode + NMS) and for the
    compiled graph alone (model + decode + NMS, what the reference's fps mode times).
    """
    import numpy as np

    for _ in range(warmup):
        detector.detect(image)
    canvas, transform, _ = detector.preprocess(image)
    end_to_end_s, graph_s = [], []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(image)
        end_to_end_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        detector.run_canvas(canvas, transform)
        graph_s.append(time.perf_counter() - start)
    e2e, graph = np.asarray(end_to_end_s) * 1000.0, np.asarray(graph_s) * 1000.0
    return {
        "runs": runs,
        "end_to_end_ms_mean": float(e2e.mean()),
        "end_to_end_ms_median": float(np.median(e2e)),
        "graph_ms_mean": float(graph.mean()),
        "graph_ms_median": float(np.median(graph)),
    }


def save_heatmaps(detector, paths, save_dir, log=print):
    """Save ``<stem>_heatmap.png`` (objectness over the image) for each image; return failures."""
    from utils.inference.draw import save_heatmap

    failures: list[str] = []
    for path, image in _readable_images(paths, failures):
        heat = detector.objectness_map(image)
        os.makedirs(save_dir, exist_ok=True)
        saved = save_heatmap(image, heat, output_path(save_dir, path, "_heatmap", ".png"))
        log(f"{path}: objectness heat map -> {saved}")
    return failures


def write_json(path, records, model_description=""):
    """Write ``{"model": ..., "images": records}`` atomically."""
    return files.write_json(path, {"model": model_description, "images": records})
