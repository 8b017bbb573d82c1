"""Detect objects on images, folders, video files and cameras.

Examples:
    python predict.py --backbone mobilenetv1 --alpha 0.25            # sample photo -> img_out/
    python predict.py --backbone ghostnet --source photos/ --json results.json
    python predict.py --weights logs/best.h5 --classes my_classes.txt --source clip.mp4
    python predict.py --source 0 --show                              # webcam
    python predict.py --mode fps          # end-to-end latency
    python predict.py --mode heatmap      # objectness heat map PNG
"""
import argparse
import json
import os
import sys
import time

# Quiet native libraries before they are imported: a user sees our messages, not their logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ts")


class SourceError(ValueError):
    """The --source cannot be used (missing, unreadable, unknown kind, camera absent)."""


def sample_image_path():
    """A photo shipped with matplotlib (an installed dependency): the default --source."""
    from matplotlib import cbook
    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError):
        path = None
    if not path or not os.path.isfile(str(path)):
        import matplotlib
        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    if not os.path.isfile(str(path)):
        raise SourceError("no --source given and matplotlib's sample photo is missing; "
                          "pass --source IMAGE")
    return str(path)


def classify_source(source):
    """('image' | 'folder' | 'video' | 'camera', value) for a --source string."""
    if source is None:
        return "image", sample_image_path()
    text = str(source)
    if text.isdigit():
        return "camera", int(text)
    if os.path.isdir(text):
        return "folder", text
    if not os.path.exists(text):
        raise SourceError(f"{text}: no such file or folder")
    if os.path.splitext(text)[1].lower() in VIDEO_EXTENSIONS:
        return "video", text
    return "image", text


def list_images(folder):
    """Image files directly in ``folder``, sorted by name."""
    from utils.image import is_image_file
    names = sorted(n for n in os.listdir(folder)
                   if is_image_file(n) and os.path.isfile(os.path.join(folder, n)))
    return [os.path.join(folder, n) for n in names]


def build_parser():
    from utils.config import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_INPUT_SIZE
    parser = argparse.ArgumentParser(
        description="Detect objects with YOLOv4-lite on an image, a folder of images, a video "
                    "file or a camera.",
        epilog="Without --weights the VOC-trained weights of the chosen backbone/alpha are "
               "downloaded once into $YOLO_LITE_CACHE_DIR (default ~/.cache/yolov4-lite).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", default=DEFAULT_BACKBONE,
                       help="mobilenetv1, mobilenetv2, mobilenetv3, ghostnet or densenet121")
    model.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="width multiplier")
    model.add_argument("--weights", default=None,
                       help="weights .h5 file (default: the published VOC weights, cached)")
    model.add_argument("--classes", default=None,
                       help="class names file, one per line (default model_data/voc_classes.txt)")
    model.add_argument("--anchors", default=None,
                       help="anchors file (default model_data/yolo_anchors.txt)")
    model.add_argument("--input-size", default=str(DEFAULT_INPUT_SIZE),
                       help="network input N or HxW, multiples of 32")
    post = parser.add_argument_group("detection")
    post.add_argument("--conf", type=float, default=0.5, help="score threshold")
    post.add_argument("--nms-iou", type=float, default=0.3, help="NMS IoU threshold")
    post.add_argument("--max-boxes", type=int, default=100, help="at most this many boxes")
    post.add_argument("--letterbox", action=argparse.BooleanOptionalAction, default=True,
                      help="keep the aspect ratio (grey padding) instead of a plain resize")
    io = parser.add_argument_group("input and output")
    io.add_argument("--source", default=None,
                    help="image file, folder, video file or camera index such as 0 "
                         "(default: a sample photo shipped with matplotlib)")
    io.add_argument("--mode", choices=("predict", "fps", "heatmap"), default="predict",
                    help="predict: draw and save detections; fps: time end-to-end latency; "
                         "heatmap: save an objectness heat map")
    io.add_argument("--save-dir", default="img_out", help="where drawn results are saved")
    io.add_argument("--json", default=None, metavar="FILE",
                    help="also write machine-readable results to FILE")
    io.add_argument("--crop", action="store_true",
                    help="save each detected object as an image in SAVE_DIR/crops/")
    io.add_argument("--count", action="store_true", help="print the number of objects per class")
    io.add_argument("--show", action="store_true", help="show results in a window")
    io.add_argument("--runs", type=int, default=100, help="timed runs in --mode fps")
    io.add_argument("--quiet", action="store_true", help="print less")
    return parser


def check_args(args):
    from utils.config import ConfigError, parse_input_size
    if not 0.0 <= args.conf <= 1.0:
        raise ConfigError(f"--conf must be between 0 and 1, got {args.conf}")
    if not 0.0 < args.nms_iou <= 1.0:
        raise ConfigError(f"--nms-iou must be in (0, 1], got {args.nms_iou}")
    if args.max_boxes < 1:
        raise ConfigError(f"--max-boxes must be at least 1, got {args.max_boxes}")
    if args.runs < 1:
        raise ConfigError(f"--runs must be at least 1, got {args.runs}")
    args.input_size = parse_input_size(args.input_size)


def make_detector(args):
    from utils.detector import Detector
    return Detector.from_options(
        args.backbone, args.alpha, args.weights, classes_path=args.classes,
        anchors_path=args.anchors, input_size=args.input_size, letterbox=args.letterbox,
        conf=args.conf, nms_iou=args.nms_iou, max_boxes=args.max_boxes)


def image_record(path, image, detections, class_names, frame=None):
    """The JSON entry of one image or video frame."""
    from utils.detector import detections_to_dicts
    width, height = image.size
    record = {"file": path}
    if frame is not None:
        record["frame"] = frame
    record.update(width=width, height=height,
                  detections=detections_to_dicts(detections, class_names, width, height))
    return record


def output_path(save_dir, source_path, suffix="", extension=None):
    stem, ext = os.path.splitext(os.path.basename(source_path))
    return os.path.join(save_dir, stem + suffix + (extension or ext or ".png"))


def save_image(image, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.splitext(path)[1].lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".tif",
                                                 ".tiff", ".webp"):
        path = os.path.splitext(path)[0] + ".png"
    image.save(path)
    return path


def show_image(image, title):
    """Show an image in an OpenCV window; a clear error when OpenCV has no GUI."""
    import cv2
    import numpy as np
    try:
        cv2.imshow(title, cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        return cv2.waitKey(1) & 0xFF
    except cv2.error:
        raise SourceError("--show needs OpenCV with GUI support (pip install opencv-python); "
                          "this OpenCV is headless") from None


def predict_images(detector, paths, args, log):
    """Detect on image files; save drawings (and crops); return (JSON records, failures)."""
    from utils.draw import count_by_class, crop_detections, draw_detections
    from utils.image import ImageLoadError, load_image

    names = detector.class_names
    records, failures = [], []
    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            failures.append(path)
            print(f"skipped {exc}", file=sys.stderr)
            records.append({"file": path, "error": str(exc)})
            continue
        detections = detector.detect(image)
        records.append(image_record(path, image, detections, names))
        drawn = draw_detections(image, detections, names)
        saved = save_image(drawn, output_path(args.save_dir, path))
        log(f"{path}: {len(detections)} objects -> {saved}")
        if args.count:
            counts = count_by_class(detections, names)
            log("  " + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no objects"),
                force=True)
        if args.crop:
            crop_dir = os.path.join(args.save_dir, "crops")
            for i, crop in enumerate(crop_detections(image, detections)):
                if crop is not None:
                    cname = names[int(detections.class_ids[i])].replace(" ", "_")
                    stem = os.path.splitext(os.path.basename(path))[0]
                    save_image(crop, os.path.join(crop_dir, f"{stem}_{i}_{cname}.png"))
        if args.show:
            show_image(drawn, "YOLOv4-lite")
    if args.show and records:
        import cv2
        cv2.waitKey(0)
    return records, failures


def open_capture(kind, value):
    import cv2
    capture = cv2.VideoCapture(value)
    if not capture.isOpened():
        capture.release()
        if kind == "camera":
            raise SourceError(f"camera {value} cannot be opened (no such camera, or it is busy)")
        raise SourceError(f"{value}: cannot open as a video (unsupported or corrupt file)")
    return capture


def predict_video(detector, kind, value, args, log, capture=None):
    """Detect on every frame of a video file or camera; write an annotated mp4.

    Ctrl-C (or Esc/q in the --show window) stops cleanly and the file is finalised.
    Returns the per-frame JSON records.
    """
    import cv2
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from utils.draw import draw_detections

    capture = capture if capture is not None else open_capture(kind, value)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and 1.0 <= fps <= 240.0 else 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else 0
    name = f"camera{value}.mp4" if kind == "camera" else \
        os.path.splitext(os.path.basename(value))[0] + ".mp4"
    out_path = os.path.join(args.save_dir, name)
    os.makedirs(args.save_dir, exist_ok=True)
    writer = None
    records = []
    source_name = str(value) if kind == "video" else f"camera:{value}"
    frame_index = 0
    smoothed_fps = None
    bar = tqdm(total=total or None, unit="frame", desc=os.path.basename(out_path),
               disable=args.quiet, file=sys.stderr)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            start = time.perf_counter()
            image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            detections = detector.detect(image)
            drawn = np.asarray(draw_detections(image, detections, detector.class_names))
            rate = 1.0 / max(time.perf_counter() - start, 1e-6)
            # The first frame pays for tracing the graph: start the running figure after it.
            if frame_index == 1 or smoothed_fps is None:
                smoothed_fps = rate
            else:
                smoothed_fps = 0.9 * smoothed_fps + 0.1 * rate
            bgr = cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)
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
            if args.json:
                records.append(image_record(source_name, image, detections,
                                            detector.class_names, frame=frame_index))
            frame_index += 1
            bar.update(1)
            bar.set_postfix(fps=f"{smoothed_fps:.1f}", objects=len(detections))
            if args.show and show_image(drawn, "YOLOv4-lite") in (27, ord("q")):
                break
    except KeyboardInterrupt:
        bar.write(f"stopped by user after {frame_index} frames")
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
    if frame_index == 0:
        raise SourceError(f"{source_name}: no frame could be read")
    log(f"{source_name}: {frame_index} frames -> {out_path}")
    return records


def run_fps(detector, image_path, runs, log):
    """Time end-to-end latency (preprocess + model + decode + NMS) over ``runs`` calls."""
    import numpy as np

    from utils.image import load_image

    image = load_image(image_path)
    for _ in range(3):  # warm-up: trace and first executions
        detector.detect(image)
    end_to_end = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(image)
        end_to_end.append(time.perf_counter() - start)
    canvas, transform, _ = detector.preprocess(image)
    graph_only = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.run_canvas(canvas, transform)
        graph_only.append(time.perf_counter() - start)
    e2e_ms, graph_ms = np.asarray(end_to_end) * 1000, np.asarray(graph_only) * 1000
    log(f"{image_path} ({image.size[0]}x{image.size[1]}), {runs} runs, batch 1", force=True)
    log(f"end to end (preprocess + model + decode + NMS): mean {e2e_ms.mean():.1f} ms, "
        f"median {np.median(e2e_ms):.1f} ms, {1000.0 / e2e_ms.mean():.1f} FPS", force=True)
    log(f"model + decode + NMS only:                     mean {graph_ms.mean():.1f} ms, "
        f"median {np.median(graph_ms):.1f} ms, {1000.0 / graph_ms.mean():.1f} FPS", force=True)
    return {"end_to_end_ms_mean": float(e2e_ms.mean()),
            "end_to_end_ms_median": float(np.median(e2e_ms)),
            "graph_ms_mean": float(graph_ms.mean()), "graph_ms_median": float(np.median(graph_ms))}


def run_heatmap(detector, paths, save_dir, log):
    from utils.draw import save_heatmap
    from utils.image import ImageLoadError, load_image

    failures = []
    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            failures.append(path)
            print(f"skipped {exc}", file=sys.stderr)
            continue
        heat = detector.objectness_map(image)
        os.makedirs(save_dir, exist_ok=True)
        saved = save_heatmap(image, heat, output_path(save_dir, path, "_heatmap", ".png"))
        log(f"{path}: objectness heat map -> {saved}")
    return failures


def write_json(path, records, detector):
    payload = {"model": detector.describe(), "images": records}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf8") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def run(args):
    """Everything predict.py does, given parsed arguments; returns the exit status."""
    def log(message, force=False):
        if force or not args.quiet:
            print(message)

    check_args(args)
    kind, value = classify_source(args.source)
    if args.mode != "predict" and kind in ("video", "camera"):
        raise SourceError(f"--mode {args.mode} works on images and folders, not on {kind}s")
    if kind == "folder":
        paths = list_images(value)
        if not paths:
            raise SourceError(f"{value}: no image files in this folder")
    elif kind == "image":
        from utils.image import load_image
        load_image(value)  # fail on a bad file before the model is built
        paths = [value]
    else:
        capture = open_capture(kind, value)  # fail on a bad video/camera before building
    detector = make_detector(args)
    log(f"model: {detector.describe()}")
    report = getattr(detector.model, "load_report", None)
    if report is not None:
        log(report.summary())

    failures = []
    records = []
    if args.mode == "fps":
        run_fps(detector, paths[0], args.runs, log)
        return 0
    if args.mode == "heatmap":
        failures = run_heatmap(detector, paths, args.save_dir, log)
    elif kind in ("video", "camera"):
        records = predict_video(detector, kind, value, args, log, capture)
    else:
        records, failures = predict_images(detector, paths, args, log)
    if args.json:
        write_json(args.json, records, detector)
        log(f"results -> {args.json}")
    if failures:
        print(f"{len(failures)} of {len(paths)} images could not be read: "
              + ", ".join(os.path.basename(p) for p in failures), file=sys.stderr)
        if len(failures) == len(paths):
            return 1
    return 0


def import_tensorflow_quietly():
    """Import TensorFlow with native stderr muted: its start-up log lines bypass
    TF_CPP_MIN_LOG_LEVEL and would bury our own one-line messages."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        tf.constant(0.0) + 1.0  # device initialisation logs too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _is_expected_error(exc):
    """Errors caused by the user's input (reported in one line) rather than by a bug."""
    from utils.config import ConfigError
    from utils.hub import WeightsUnavailableError
    from utils.image import ImageLoadError
    expected = (SourceError, ConfigError, ImageLoadError, WeightsUnavailableError,
                FileNotFoundError, PermissionError, IsADirectoryError)
    if isinstance(exc, expected):
        return True
    nets = sys.modules.get("nets")
    return nets is not None and isinstance(exc, nets.WeightsMismatchError)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if not os.environ.get("YOLO_LITE_VERBOSE"):
            import_tensorflow_quietly()
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - re-raised below unless it is the user's input
        if not _is_expected_error(exc):
            raise
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
