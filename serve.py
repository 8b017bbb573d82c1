"""Serve the detector over HTTP: a JSON API with dynamic batching, metrics and a browser page.

Examples:
    python serve.py --backbone mobilenetv1 --alpha 0.25             # http://127.0.0.1:8000/
    python serve.py --weights exports/model.tflite --port 8080       # no TensorFlow imported
    python serve.py --weights logs/best.h5 --classes my_classes.txt --max-batch 16
    YOLO_LITE_API_KEY=secret python serve.py --host 0.0.0.0          # reachable, key required

    curl -F image=@street.jpg 'http://127.0.0.1:8000/v1/detect?conf=0.4'
"""

import os
import sys

from utils.cli import (
    ArgumentParser,
    add_model_options,
    apply_max_pixels,
    check_detection_ranges,
    check_model_options,
    check_range,
    run_cli,
)
from utils.options import add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "serve"


def build_parser():
    parser = ArgumentParser(
        description="Serve YOLOv4-lite over HTTP: POST an image to /v1/detect, open / in a "
        "browser, scrape /metrics.",
        epilog="Without --weights the VOC-trained weights of the chosen backbone/alpha are "
        "downloaded once into $YOLO_LITE_CACHE_DIR (default ~/.cache/yolov4-lite).",
    )
    add_model_options(parser, MODE)
    add_options(
        parser.add_argument_group("detection defaults (a request may ask for others)"),
        ("conf", "nms_iou", "max_boxes", "letterbox", "preprocess"),
        MODE,
    )
    add_options(
        parser.add_argument_group("listening"), ("host", "port", "api_key", "no_auth"), MODE
    )
    add_options(
        parser.add_argument_group("batching and limits"),
        (
            "max_batch",
            "max_wait_ms",
            "max_queue",
            "max_upload_mb",
            "max_pixels",
            "request_timeout",
            "quiet",
        ),
        MODE,
    )
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work; returns the API key (None: open)."""
    from utils.config import parse_input_size
    from utils.serving.settings import access_key

    check_detection_ranges(args)
    check_model_options(args)
    check_range(args.port, "--port", 0, 65535)
    check_range(args.max_batch, "--max-batch", 1, 1024)
    check_range(args.max_wait_ms, "--max-wait-ms", 0.0, 60_000.0)
    check_range(args.max_queue, "--max-queue", 1, 1_000_000)
    check_range(args.max_upload_mb, "--max-upload-mb", 0.0, 100_000.0, low_open=True)
    check_range(args.request_timeout, "--request-timeout", 0.0, 86_400.0, low_open=True)
    apply_max_pixels(args)
    args.input_size = parse_input_size(args.input_size)
    return access_key(args.host, args.api_key, args.no_auth)


def run(args):
    """Load the model (its errors are one line, before anything listens), then serve."""
    from utils.inference.runtime_detector import load_detector_for_args
    from utils.serving.server import serve
    from utils.serving.service import Service
    from utils.serving.settings import ServeSettings

    api_key = check_args(args)
    detector = load_detector_for_args(args)
    service = Service(detector, ServeSettings.from_args(args, api_key))
    return serve(service, api_key)


def main(argv=None):
    # TensorFlow is imported only for a Keras model or a SavedModel: a .tflite or .onnx
    # service starts without it.
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
