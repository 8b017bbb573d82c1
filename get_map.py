"""VOC and COCO mAP of a model on a dataset split (VOC, COCO or YOLO), or of existing result files.

Examples:
    python get_map.py --data VOCdevkit/VOC2007 --backbone mobilenetv1 --alpha 0.25
    python get_map.py --data VOCdevkit/VOC2007 --weights logs/best.h5 --iou 0.5:0.95 --metric both
    python get_map.py --map-out map_out --metric coco          # re-evaluate written files
    python get_map.py --data instances_val2017.json --coco-images val2017/ \
        --weights logs/coco/best.h5 --classes logs/coco/classes.txt --metric both
    python get_map.py --data my-project/data.yaml --split val --weights logs/mine/best.h5 \
        --classes logs/mine/classes.txt
"""

import os
import sys

from utils.cli import (
    ArgumentParser,
    UsageError,
    add_model_options,
    apply_max_pixels,
    check_detection_ranges,
    check_range,
    check_slice_options,
    run_cli,
)
from utils.options import DETECTION_OPTIONS, SLICE_OPTIONS, add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "eval"


def build_parser():
    parser = ArgumentParser(
        description="Compute VOC (all-point or 11-point AP, +1 pixel IoU, difficult objects "
        "ignored) and COCO (pycocotools) mAP, either by running a model over a split of a "
        "dataset (--data: VOC, COCO or YOLO), or from an existing map_out folder (--map-out).",
        epilog="Outputs in --out: results.json, results.txt, coco_eval/*.json (COCO), with "
        "--plots pr_curves/<class>.png and ap_per_class_iou<IoU>.png, and with --data the "
        "ground-truth/ and detection-results/ files evaluated (re-evaluate them with "
        "--map-out). The detection defaults are those of the mAP measured during training.",
    )
    add_options(
        parser.add_argument_group("what to evaluate (one of)"),
        ("data", "map_out"),
        MODE,
    )
    add_options(
        parser.add_argument_group("dataset"),
        ("data_format", "split", "coco_images", "max_pixels"),
        MODE,
    )
    add_options(parser.add_argument_group("deprecated"), ("coco_json",), MODE)
    add_model_options(parser, MODE, title="model (with --data)")
    add_options(
        parser.add_argument_group("detection (with --data)"),
        DETECTION_OPTIONS + ("preprocess", "batch_size"),
        MODE,
    )
    add_options(parser.add_argument_group("sliced inference (with --data)"), SLICE_OPTIONS, MODE)
    add_options(
        parser.add_argument_group("metric"),
        ("iou", "metric", "score_threshold", "voc07", "coco_compat"),
        MODE,
    )
    add_options(parser.add_argument_group("output"), ("out", "plots", "no_progress"), MODE)
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work; returns the IoU thresholds."""
    from utils.evaluation.metrics import parse_iou_thresholds

    if sum(bool(x) for x in (args.data, args.map_out)) != 1:
        raise UsageError(
            "give one of --data PATH (run a model over a dataset) or --map-out DIR (existing files)"
        )
    try:
        thresholds = parse_iou_thresholds(args.iou)
    except ValueError as exc:
        raise UsageError(f"--iou: {exc}") from None
    check_range(args.score_threshold, "--score-threshold", 0.0, 1.0)
    check_detection_ranges(args)
    check_slice_options(args)
    check_range(args.batch_size, "--batch-size", 1)
    apply_max_pixels(args)
    if args.data:  # the model's options, before the dataset is read
        from nets import get_backbone
        from utils.config import parse_input_size

        get_backbone(args.backbone, args.alpha)
        parse_input_size(args.input_size)
    return thresholds


def _log(message):
    print(message, file=sys.stderr)


def run(args):
    from utils.config import ConfigError, load_class_names
    from utils.evaluation.evaluate import evaluate_detector, evaluate_map_out
    from utils.evaluation.report import format_results

    thresholds = check_args(args)
    common = dict(
        out_dir=args.out,
        iou_thresholds=thresholds,
        metric=args.metric,
        score_threshold=args.score_threshold,
        voc07=args.voc07,
        coco_compat=args.coco_compat,
        plots=args.plots,
    )

    if args.map_out:
        class_names = load_class_names(args.classes) if args.classes else None
        results = evaluate_map_out(args.map_out, class_names, **common)
    else:
        from utils.data.datasets import dataset_for_args
        from utils.inference.runtime_detector import load_detector_for_args

        # A wrong dataset or split fails before the model loads.
        dataset = dataset_for_args(args)
        if not dataset.has_split(args.split):
            raise dataset.missing_split(args.split)
        # No --classes: the export's own names, or model_data/voc_classes.txt for a .h5.
        detector = load_detector_for_args(args)
        class_names = detector.class_names
        split = dataset.load(args.split, class_names, progress=not args.no_progress)
        samples, where = split.samples, split.where
        _log(f"{where}: " + split.report.format(max_problems=20, counts=False))
        if not samples:
            raise ConfigError(f"no usable image in {where}")
        load_report = getattr(detector.model, "load_report", None)
        if load_report is not None:
            _log(load_report.summary())
        _log(detector.describe())
        results = evaluate_detector(
            detector,
            samples,
            class_names,
            progress=not args.no_progress,
            batch_size=args.batch_size,
            **common,
        )
    print(format_results(results))
    print(f"results -> {os.path.join(args.out, 'results.json')}")
    return 0


def main(argv=None):
    # Re-evaluating text files needs no TensorFlow; run() imports it only for a model.
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
