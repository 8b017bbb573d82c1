"""Detect objects on images, folders, video files and cameras.

Examples:
    python predict.py --backbone mobilenetv1 --alpha 0.25            # sample photo -> img_out/
    python predict.py --backbone ghostnet --source photos/ --json results.json
    python predict.py --weights logs/best.h5 --classes my_classes.txt --source clip.mp4
    python predict.py --weights exports/yolov4_lite_mobilenetv1_0.25_416.tflite --source photos/
    python predict.py --source 0 --show                              # webcam
    python predict.py --mode fps          # end-to-end latency
    python predict.py --mode heatmap      # objectness heat map PNG
"""

import os
import sys
from dataclasses import dataclass, field

from utils.cli import (
    ArgumentParser,
    add_model_options,
    apply_max_pixels,
    check_detection_ranges,
    check_model_options,
    check_range,
    run_cli,
)
from utils.options import DETECTION_OPTIONS, add_options

# Quiet native libraries before they are imported: a user sees our messages, not their logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
MODE = "predict"


def build_parser():
    parser = ArgumentParser(
        description="Detect objects with YOLOv4-lite on an image, a folder of images, a video "
        "file or a camera.",
        epilog="Without --weights the VOC-trained weights of the chosen backbone/alpha are "
        "downloaded once into $YOLO_LITE_CACHE_DIR (default ~/.cache/yolov4-lite).",
    )
    add_model_options(parser, MODE)
    add_options(parser.add_argument_group("detection"), DETECTION_OPTIONS, MODE)
    add_options(
        parser.add_argument_group("input and output"),
        (
            "source",
            "mode",
            "batch_size",
            "save_dir",
            "json",
            "crop",
            "count",
            "show",
            "runs",
            "max_pixels",
            "quiet",
        ),
        MODE,
    )
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work; parse the input size."""
    from utils.config import parse_input_size

    check_detection_ranges(args)
    check_model_options(args)
    check_range(args.runs, "--runs", 1)
    check_range(args.batch_size, "--batch-size", 1)
    apply_max_pixels(args)
    args.input_size = parse_input_size(args.input_size)


def make_detector(args, single_image=False):
    from utils.inference.runtime_detector import load_detector_for_args

    return load_detector_for_args(args, single_image=single_image)


def run(args):
    """Everything predict.py does, given parsed arguments; returns the exit status."""
    check_args(args)
    source = open_source(args)
    # Folding batch norms (a second model build) and tracing the graph pay off from a few
    # images on; one image gets its result sooner without either (the same detections).
    detector = make_detector(args, single_image=source.kind == "image" and args.mode != "fps")
    progress = progress_log(args.quiet)
    progress(f"model: {detector.describe()}")
    report = getattr(detector.model, "load_report", None)
    if report is not None:
        progress(report.summary())
    if args.mode == "fps":
        return report_speed(detector, source.paths[0], args.runs)
    records, failures = detect(args, detector, source, progress)
    if args.json:
        from utils.inference import jobs

        jobs.write_json(args.json, records, detector.describe())
        progress(f"results -> {args.json}")
    return failure_status(failures, source.paths)


def log(message):
    print(message, flush=True)


def progress_log(quiet):
    """Where progress messages go: :func:`log`, or nowhere with --quiet."""
    return (lambda message: None) if quiet else log


@dataclass
class Source:
    """What --source names, checked before the model loads."""

    kind: str  # "image", "folder", "video" or "camera"
    value: object  # the path or the camera index
    paths: list = field(default_factory=list)  # the images of an image or folder source
    capture: object = None  # the opened video file or camera


def open_source(args):
    """Classify and open --source: a bad one fails before seconds go into the model."""
    from utils.data.images import load_image
    from utils.inference.sources import (
        SourceError,
        check_gui,
        classify_source,
        list_images,
        open_capture,
    )

    kind, value = classify_source(args.source)
    if args.show:
        check_gui()
    if args.mode != "predict" and kind in ("video", "camera"):
        raise SourceError(f"--mode {args.mode} works on images and folders, not on {kind}s")
    if kind == "folder":
        paths = list_images(value)
        if not paths:
            raise SourceError(f"{value}: no image files in this folder")
        return Source(kind, value, paths)
    if kind == "image":
        load_image(value)
        return Source(kind, value, [value])
    return Source(kind, value, capture=open_capture(kind, value))


def report_speed(detector, path, runs):
    """--mode fps: print the detector's latencies on one image; returns the exit status."""
    from utils.data.images import load_image
    from utils.inference import jobs

    image = load_image(path)
    stats = jobs.time_detector(detector, image, runs=runs)
    log(f"{path} ({image.size[0]}x{image.size[1]}), {runs} runs, batch 1")
    log(
        f"end to end (preprocess + model + decode + NMS): mean "
        f"{stats['end_to_end_ms_mean']:.1f} ms, median {stats['end_to_end_ms_median']:.1f} "
        f"ms, {1000.0 / stats['end_to_end_ms_mean']:.1f} FPS"
    )
    log(
        f"model + decode + NMS only:                     mean {stats['graph_ms_mean']:.1f} "
        f"ms, median {stats['graph_ms_median']:.1f} ms, "
        f"{1000.0 / stats['graph_ms_mean']:.1f} FPS"
    )
    return 0


def detect(args, detector, source, progress):
    """Run the --mode job on the source: (JSON records, paths of images that were unreadable)."""
    from utils.inference import jobs

    if args.mode == "heatmap":
        return [], jobs.save_heatmaps(detector, source.paths, args.save_dir, log=progress)
    if source.kind in ("video", "camera"):
        records = jobs.predict_video(
            detector,
            source.kind,
            source.value,
            args.save_dir,
            collect_records=bool(args.json),
            show=args.show,
            progress=not args.quiet,
            log=progress,
            capture=source.capture,
        )
        return records, []
    return jobs.predict_images(
        detector,
        source.paths,
        args.save_dir,
        crop=args.crop,
        count=args.count,
        show=args.show,
        log=log,
        verbose=not args.quiet,
        batch_size=args.batch_size,
    )


def failure_status(failures, paths):
    """Name the images that could not be read; the exit status is 1 when none could."""
    if not failures:
        return 0
    print(
        f"{len(failures)} of {len(paths)} images could not be read: "
        + ", ".join(os.path.basename(p) for p in failures),
        file=sys.stderr,
    )
    return 1 if len(failures) == len(paths) else 0


def main(argv=None):
    # TensorFlow is imported (quietly) only when a Keras model is loaded: an exported .tflite
    # or .onnx model runs without it.
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
