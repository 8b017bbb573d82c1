"""What predict.py does with a detector: images and folders, videos and cameras, timing, heat maps.

Each job takes a :class:`utils.inference.detector.Detector` and plain arguments, writes its files, reports
through ``log`` (``print`` by default) and returns JSON-ready records, so it can be used from
Python as well as from the command line.
"""
import os
import signal
import sys
import threading
import time

from utils import files
from utils.inference.sources import SourceError, open_capture, show_image
from utils.options import default

SAVE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def image_record(path, image, detections, class_names, frame=None):
    """The JSON entry of one image (or video frame): boxes clipped to the image."""
    from utils.inference.base import detections_to_dicts
    width, height = image.size
    record = {"file": path}
    if frame is not None:
        record["frame"] = frame
    record.update(width=width, height=height,
                  detections=detections_to_dicts(detections, class_names, width, height))
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
    with files.atomic_path(path) as tmp:
        image.save(tmp)
    return path


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


def predict_images(detector, paths, save_dir, crop=False, count=False, show=False, log=print,
                   verbose=True, batch_size=1):
    """Detect on image files, ``batch_size`` images per run of the detector; save each drawing to
    ``save_dir`` under the file's name.

    Unreadable images are reported through ``log`` (by name, with the reason) and skipped.
    Returns ``(records, failures)``: JSON records in the order of ``paths`` (for a skipped image,
    an empty ``"detections"`` list and an ``"error"``) and the paths that could not be read.
    """
    from utils.inference.base import detect_in_batches
    from utils.inference.draw import count_by_class, draw_detections

    names = detector.class_names
    records, failures = [], []
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
            log(f"{os.path.basename(path)}: " +
                (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no objects"))
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


def predict_video(detector, kind, value, save_dir, collect_records=False, show=False,
                  progress=True, log=print, capture=None):
    """Detect on every frame of a video file (``kind="video"``) or camera (``"camera"``) and
    write an annotated mp4 to ``save_dir``, with a progress bar and a live FPS figure.

    Ctrl-C (or Esc/q in the --show window) stops after the current frame and the file is
    finalised. Returns the per-frame records (when ``collect_records``).
    """
    import cv2
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from utils.inference.draw import draw_detections

    capture = capture if capture is not None else open_capture(kind, value)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and 1.0 <= fps <= 240.0 else 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else 0
    name = f"camera{value}.mp4" if kind == "camera" else \
        os.path.splitext(os.path.basename(value))[0] + ".mp4"
    out_path = os.path.join(save_dir, name)
    os.makedirs(save_dir, exist_ok=True)
    source_name = str(value) if kind == "video" else f"camera:{value}"
    writer, records, frame_index, smoothed_fps = None, [], 0, None
    bar = tqdm(total=total or None, unit="frame", desc=name, disable=not progress,
               file=sys.stderr)
    # Ctrl-C asks to stop; the frame in progress is finished (video and JSON stay in step).
    stop = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous_handler = signal.signal(signal.SIGINT, lambda signum, _: stop.append(signum))
    try:
        while not stop:
            ok, frame = capture.read()
            if not ok:
                break
            start = time.perf_counter()
            image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            detections = detector.detect(image)
            drawn = draw_detections(image, detections, detector.class_names)
            rate = 1.0 / max(time.perf_counter() - start, 1e-6)
            # The first frame pays for tracing the graph: start the running figure after it.
            if frame_index <= 1:
                smoothed_fps = rate
            else:
                smoothed_fps = 0.9 * smoothed_fps + 0.1 * rate
            bgr = cv2.cvtColor(np.asarray(drawn), cv2.COLOR_RGB2BGR)
            if kind == "camera":
                cv2.putText(bgr, f"{smoothed_fps:.1f} FPS", (10, 30), cv2.FONT_HERSHEY_SIMPLEX,
                            0.8, (0, 255, 0), 2)
            if writer is None:
                height, width = bgr.shape[:2]
                writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (width, height))
                if not writer.isOpened():
                    raise SourceError(f"{out_path}: cannot open a video writer (mp4v)")
            writer.write(bgr)
            if collect_records:
                records.append(image_record(source_name, image, detections,
                                            detector.class_names, frame=frame_index))
            frame_index += 1
            bar.update(1)
            bar.set_postfix(fps=f"{smoothed_fps:.1f}", objects=len(detections))
            if show and show_image(drawn) in (27, ord("q")):
                break
        if stop:
            bar.write(f"stopped by user after {frame_index} frames", file=sys.stderr)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous_handler)
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
    if frame_index == 0:
        raise SourceError(f"{source_name}: no frame could be read")
    log(f"{source_name}: {frame_index} frames -> {out_path}")
    return records


def time_detector(detector, image, runs=default("runs"), warmup=3):
    """Latency of ``detector`` on one PIL image over ``runs`` calls after ``warmup`` calls.

    Returns mean and median ms end to end (preprocess + model + decode + NMS) and for the
    compiled graph alone (model + decode + NMS, what the reference's fps mode times).
    """
    import numpy as np

    for _ in range(warmup):
        detector.detect(image)
    canvas, transform, _ = detector.preprocess(image)
    end_to_end, graph = [], []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(image)
        end_to_end.append(time.perf_counter() - start)
        start = time.perf_counter()
        detector.run_canvas(canvas, transform)
        graph.append(time.perf_counter() - start)
    e2e, graph = np.asarray(end_to_end) * 1000.0, np.asarray(graph) * 1000.0
    return {"runs": runs, "end_to_end_ms_mean": float(e2e.mean()),
            "end_to_end_ms_median": float(np.median(e2e)), "graph_ms_mean": float(graph.mean()),
            "graph_ms_median": float(np.median(graph))}


def save_heatmaps(detector, paths, save_dir, log=print):
    """Save ``<stem>_heatmap.png`` (objectness over the image) for each image; return failures."""
    from utils.inference.draw import save_heatmap

    failures = []
    for path, image in _readable_images(paths, failures):
        heat = detector.objectness_map(image)
        os.makedirs(save_dir, exist_ok=True)
        saved = save_heatmap(image, heat, output_path(save_dir, path, "_heatmap", ".png"))
        log(f"{path}: objectness heat map -> {saved}")
    return failures


def write_json(path, records, model_description=""):
    """Write ``{"model": ..., "images": records}`` atomically."""
    return files.write_json(path, {"model": model_description, "images": records})
