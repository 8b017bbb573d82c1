"""Which file to ship: one model in every format, measured on your data and machine.

Examples:
    python benchmark.py --weights logs/best.h5 --classes my_classes.txt --alpha 0.25 \\
        --data VOCdevkit/VOC2007 --split test
    python benchmark.py --backbone ghostnet --data VOCdevkit/VOC2007 --formats keras tflite onnx
    python benchmark.py --files exports/model.tflite exports/model_int8.onnx --data data.yaml

Exports the model to every format of export.py's table (int8 calibrated on --calib-split, the
training split by default), then prints one table, also written as benchmark.csv and
benchmark.json in --out: format, file MB, mAP@0.5 and COCO AP on --split, ms per image for the
model alone and end to end (median of --runs), the time to a first result in a fresh process
(predict.py on one image) and that process's peak memory. A format that fails is a row that
says why; the others still run.
"""

import os
import sys

from utils.cli import (
    ArgumentParser,
    UsageError,
    add_model_options,
    apply_max_pixels,
    check_model_options,
    check_range,
    run_cli,
)
from utils.options import add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "benchmark"


def build_parser():
    parser = ArgumentParser(
        description="Export a YOLOv4-lite model to every format and measure each on a split: "
        "size, mAP, speed, start-up time and memory.",
        epilog="Without --weights the VOC-trained weights of the chosen backbone/alpha are "
        "downloaded once into $YOLO_LITE_CACHE_DIR (default ~/.cache/yolov4-lite).",
    )
    add_model_options(parser, MODE)
    add_options(
        parser.add_argument_group("what to measure"),
        ("bench_formats", "files", "runs", "preprocess"),
        MODE,
    )
    add_options(
        parser.add_argument_group("dataset"),
        ("data", "data_format", "split", "calib_split", "calib_images", "coco_images"),
        MODE,
        required=("data",),
    )
    add_options(parser.add_argument_group("output"), ("out", "max_pixels", "no_progress"), MODE)
    return parser


def check_args(args):
    from utils.config import parse_input_size

    check_model_options(args)
    check_range(args.runs, "--runs", 1, 100_000)
    check_range(args.calib_images, "--calib-images", 1, 100_000)
    apply_max_pixels(args)
    for path in args.files or ():
        if not os.path.exists(path):
            raise UsageError(f"--files {path}: no such file")
    args.input_size = parse_input_size(args.input_size)


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(args):
    check_args(args)
    from utils.benchmarking.report import table, write
    from utils.benchmarking.run import benchmark

    rows = benchmark(args, log=log)
    print(table(rows))
    csv_path, json_path = write(rows, args.out)
    log(f"written: {csv_path}, {json_path}")
    return 0 if any(row.error is None for row in rows) else 1


def main(argv=None):
    return run_cli(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
