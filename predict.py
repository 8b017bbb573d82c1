"""Detect objects on images, folders, video files and cameras.

Examples:
    python predict.py --backbone mobilenetv1 --alpha 0.25            # sample photo -> img_out/
    python predict.py --backbone ghostnet --source photos/ --json results.json
    python predict.py --weights logs/best.h5 --classes my_classes.txt --source clip.mp4
    python predict.py --weights exports/yolov4_lite_mobilenetv1_0.25_416.tflite --source photos/
    python predict.py --source 0 --show                              # webcam
    python predict.py --source traffic.mp4 --track --line 0.0,0.5,1.0,0.5 --json counts.json
    python predict.py --source rtsp://camera.local/stream --track --save-mot tracks.txt
    python predict.py --mode fps          # end-to-end latency
    python predict.py --mode heatmap      # objectness heat map PNG
"""

import os
import sys

from utils.cli import (
    ArgumentParser,
    UsageError,
    add_model_options,
    apply_max_pixels,
    check_detection_ranges,
    check_model_options,
    check_range,
    check_slice_options,
    run_cli,
)
from utils.options import DETECTION_OPTIONS, SLICE_OPTIONS, add_options

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
    add_options(parser.add_argument_group("detection"), DETECTION_OPTIONS + ("preprocess",), MODE)
    add_options(parser.add_argument_group("sliced inference"), SLICE_OPTIONS, MODE)
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
            "save_txt",
            "show",
            "runs",
            "max_pixels",
            "quiet",
        ),
        MODE,
    )
    tracking = parser.add_argument_group("tracking and counting (videos, streams, frame folders)")
    add_options(
        tracking,
        (
            "track",
            "track_buffer",
            "track_high",
            "track_new",
            "track_match",
            "track_min_frames",
            "save_mot",
            "line",
            "zone",
        ),
        MODE,
    )
    add_options(
        parser.add_argument_group("video and streams"),
        ("vid_stride", "stream_mode", "reconnect"),
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
    check_range(args.vid_stride, "--vid-stride", 1)
    check_range(args.reconnect, "--reconnect", 0)
    check_tracking_args(args)
    check_slice_options(args)
    if args.slice and args.mode != "predict":
        raise UsageError(f"--slice works with --mode predict, not {args.mode}")
    apply_max_pixels(args)
    args.input_size = parse_input_size(args.input_size)


# ByteTrack's second pass matches detections down to this score to tracks it already has, so
# with tracking the detector keeps them (unless --conf is given); new tracks still need
# --track-new.
TRACKING_CONF = 0.1


def check_tracking_args(args):
    from utils.options import default
    from utils.tracking import get_tracker
    from utils.tracking.counting import Counters

    if args.track is not None:
        get_tracker(args.track)
    check_range(args.track_buffer, "--track-buffer", 0.0)
    for name in ("track_high", "track_new", "track_match"):
        value = getattr(args, name)
        if value is not None:
            check_range(value, "--" + name.replace("_", "-"), 0.0, 1.0)
    if args.track_min_frames is not None:
        check_range(args.track_min_frames, "--track-min-frames", 1)
    Counters(args.line or (), args.zone or ())  # malformed points fail here, before the model
    tracking = bool(args.track or args.line or args.save_mot)
    if tracking and args.conf == default("conf", MODE):
        args.conf = TRACKING_CONF


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
    if args.mode == "heatmap":
        from utils.inference import jobs

        failures = jobs.save_heatmaps(detector, source, args.save_dir, log=progress)
        return failure_status(failures, source.total)
    return predict(args, detector, source, progress)


def log(message):
    print(message, flush=True)


def progress_log(quiet):
    """Where progress messages go: :func:`log`, or nowhere with --quiet."""
    return (lambda message: None) if quiet else log


def open_source(args):
    """Open --source: a bad one fails before seconds go into the model."""
    from utils.inference.sources import SourceError, SourceSettings
    from utils.inference.sources import open_source as open_frames
    from utils.inference.window import check_gui

    def source_log(message):
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    settings = SourceSettings(args.stream_mode, args.vid_stride, args.reconnect, source_log)
    source = open_frames(args.source, settings)
    try:
        if args.show:
            check_gui()
        if args.mode != "predict" and source.is_video:
            raise SourceError(f"--mode {args.mode} works on images and folders, not on videos")
    except BaseException:
        source.close()
        raise
    return source


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


def predict(args, detector, source, progress):
    """--mode predict on any source: the pipeline with the hooks and sinks the flags ask for."""
    from utils.inference import jobs
    from utils.inference.settings import PredictSettings

    summary = jobs.predict_source(detector, source, PredictSettings.from_args(args), log=log)
    for line in summary.lines:  # the counts are results: printed even with --quiet
        log(line)
    if source.stats.get("lost"):
        print(
            f"error: {source.name}: the stream ended or was lost; the outputs hold what came "
            "before",
            file=sys.stderr,
        )
        return 1
    return failure_status(summary.failures, source.total)


def failure_status(failures, total):
    """Name the images that could not be read; the exit status is 1 when none could."""
    if not failures:
        return 0
    print(
        f"{len(failures)} of {total} images could not be read: "
        + ", ".join(os.path.basename(p) for p in failures),
        file=sys.stderr,
    )
    return 1 if len(failures) == total else 0


def main(argv=None):
    # TensorFlow is imported (quietly) only when a Keras model is loaded: an exported .tflite
    # or .onnx model runs without it.
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
