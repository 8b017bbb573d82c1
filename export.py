"""Export a model to SavedModel, TFLite (float32, float16, int8) and ONNX.

Examples:
    python export.py --backbone mobilenetv1 --alpha 0.25 --format tflite onnx
    python export.py --weights logs/best.h5 --classes my_classes.txt --format tflite --half \\
        --int8 --data VOCdevkit/VOC2007 --calib-images 100      # or a data.yaml, a COCO json
    python export.py --backbone ghostnet --format saved_model --out exports/

The exported files run with ``predict.py --weights FILE`` and ``get_map.py --weights FILE``
(classes, anchors and input size come from the file).
"""

import os
import sys

from utils.cli import (
    ArgumentParser,
    UsageError,
    add_model_options,
    check_detection_ranges,
    check_range,
    run_cli,
)
from utils.options import add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "export"


def build_parser():
    parser = ArgumentParser(
        description="Export a YOLOv4-lite model to SavedModel, TFLite and ONNX, each with its "
        "classes, anchors and input size inside, and check every file against "
        "the Keras model.",
        epilog="Raw exports output the three head outputs (p5, p4, p3) and are decoded by "
        "predict.py / get_map.py; --nms graphs output boxes, scores, classes and a "
        "valid count. TFLite uses builtin ops only (it runs on LiteRT's mobile "
        "runtimes).",
    )
    add_model_options(parser, MODE)
    add_options(
        parser.add_argument_group("export"),
        ("format", "half", "int8", "nms", "letterbox", "out", "name"),
        MODE,
    )
    add_options(
        parser.add_argument_group("calibration and checks (with --int8)"),
        ("data", "data_format", "split", "coco_images", "calib_images"),
        MODE,
    )
    add_options(
        parser.add_argument_group("NMS settings (with --nms)"),
        ("conf", "nms_iou", "max_boxes"),
        MODE,
    )
    add_options(parser.add_argument_group("output"), ("no_progress",), MODE)
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work, before anything slow happens."""
    from nets import get_backbone
    from utils.cli import check_output_path
    from utils.config import parse_input_size

    check_range(args.calib_images, "--calib-images", 1)
    check_detection_ranges(args)
    if args.int8 and not args.data:
        raise UsageError("--int8 needs calibration images: --data DATASET (e.g. your training set)")
    check_switches(args)
    get_backbone(args.backbone, args.alpha)
    args.input_size = parse_input_size(args.input_size)
    # --out is checked with every tool's output paths (utils.cli.check_output_paths, also
    # here for callers of run()); it is created now, before anything slow.
    check_output_path("--out", args.out, "folder")
    os.makedirs(args.out, exist_ok=True)


def check_switches(args):
    """A switch that adds a format (--half, --int8) needs that format's family in --format."""
    from utils import formats

    for switch in formats.switches():
        if not getattr(args, switch):
            continue
        adds = [f for f in formats.model_formats() if f.switch == switch]
        if not any(f.family in args.format for f in adds):
            family = adds[0].family
            raise UsageError(
                f"--{switch} applies to {family}: add --format {family}"
                if len(adds) == 1
                else f"--{switch} applies to {', '.join(f.family for f in adds)}"
            )


def print_summary(results):
    rows = [("format", "variant", "file", "MB", "check (its runtime against its source graph)")]
    rows += [
        (r.format, r.variant, os.path.basename(r.path), f"{r.size_mb:.2f}", r.parity)
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def run(args):
    check_args(args)
    from utils.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()

    from nets.anchors import ANCHORS_MASK
    from utils.config import anchors_path_for, load_anchors, load_class_names
    from utils.export.exporter import export_model
    from utils.inference.detector import load_model
    from utils.options import DEFAULT_CLASSES_PATH

    class_names = load_class_names(args.classes or DEFAULT_CLASSES_PATH)
    anchors = load_anchors(anchors_path_for(args.anchors, args.weights))
    check_images = calibration = None
    if args.data:
        from utils.data.datasets import dataset_for_args
        from utils.export.calibration import calibration_canvases

        canvases = calibration_canvases(
            dataset_for_args(args),
            args.split,
            class_names,
            args.calib_images,
            args.input_size,
            progress=not args.no_progress,
        )
        check_images = canvases[:2]
        if args.int8:
            calibration = [(c[None].astype("float32") / 255.0) for c in canvases]
    model = load_model(
        args.backbone, args.alpha, args.weights, len(class_names), args.input_size, ANCHORS_MASK
    )
    print(model.load_report.summary(), file=sys.stderr)
    results = export_model(
        model,
        class_names,
        anchors,
        ANCHORS_MASK,
        args.input_size,
        args.out,
        args.format,
        letterbox=args.letterbox,
        backbone=args.backbone,
        alpha=args.alpha,
        half=args.half,
        calibration=calibration,
        nms=args.nms,
        nms_settings={"conf": args.conf, "nms_iou": args.nms_iou, "max_boxes": args.max_boxes},
        check_images=check_images,
        stem=args.name,
        progress=not args.no_progress,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print_summary(results)
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
