"""VOC and COCO mAP of a model on a VOC-format split, or of existing result files.

Examples:
    python get_map.py --data VOCdevkit/VOC2007 --backbone mobilenetv1 --alpha 0.25
    python get_map.py --data VOCdevkit/VOC2007 --weights logs/best.h5 --iou 0.5:0.95 --metric both
    python get_map.py --map-out map_out --metric coco          # re-evaluate written files
    python get_map.py --coco-json instances_val2017.json --coco-images val2017/ \
        --weights logs/coco/best.h5 --classes logs/coco/classes.txt --metric both
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
    run_cli,
)
from utils.options import DETECTION_OPTIONS, add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "eval"


def build_parser():
    parser = ArgumentParser(
        description="Compute VOC (all-point or 11-point AP, +1 pixel IoU, difficult objects "
        "ignored) and COCO (pycocotools) mAP, either by running a model over a VOC "
        "split (--data) or a COCO instances file (--coco-json), or from an existing "
        "map_out folder (--map-out).",
        epilog="Outputs in --out: results.json, results.txt, coco_eval/*.json (COCO), with "
        "--plots pr_curves/<class>.png and ap_per_class_iou<IoU>.png, and with --data the "
        "ground-truth/ and detection-results/ files evaluated (re-evaluate them with "
        "--map-out). The detection defaults are those of the mAP measured during training.",
    )
    add_options(
        parser.add_argument_group("what to evaluate (one of)"),
        ("data", "coco_json", "map_out"),
        MODE,
    )
    add_options(parser.add_argument_group("dataset"), ("split", "coco_images", "max_pixels"), MODE)
    add_model_options(parser, MODE, title="model (with --data or --coco-json)")
    add_options(
        parser.add_argument_group("detection (with --data or --coco-json)"),
        DETECTION_OPTIONS + ("batch_size",),
        MODE,
    )
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

    if sum(bool(x) for x in (args.data, args.coco_json, args.map_out)) != 1:
        raise UsageError(
            "give one of --data ROOT or --coco-json FILE --coco-images DIR (run a "
            "model) or --map-out DIR (existing files)"
        )
    if args.coco_json and not args.coco_images:
        raise UsageError("--coco-json needs --coco-images (the folder of its images)")
    try:
        thresholds = parse_iou_thresholds(args.iou)
    except ValueError as exc:
        raise UsageError(f"--iou: {exc}") from None
    check_range(args.score_threshold, "--score-threshold", 0.0, 1.0)
    check_detection_ranges(args)
    check_range(args.batch_size, "--batch-size", 1)
    apply_max_pixels(args)
    if args.data or args.coco_json:  # the model's options, before the dataset is read
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
        from utils.data import load_coco_json, load_voc_split, resolve_voc_root
        from utils.inference.runtime_detector import load_detector_for_args

        # A wrong folder or file fails before the model loads.
        voc_root = resolve_voc_root(args.data) if args.data else None
        if args.coco_json and not os.path.isfile(args.coco_json):
            raise ConfigError(f"COCO annotation file not found: {args.coco_json}")
        # No --classes: the export's own names, or model_data/voc_classes.txt for a .h5.
        detector = load_detector_for_args(args)
        class_names = detector.class_names
        if voc_root:
            samples, report = load_voc_split(
                voc_root, args.split, class_names, progress=not args.no_progress
            )
            where = f"{voc_root} ({args.split})"
        else:
            samples, report, _ = load_coco_json(
                args.coco_json, args.coco_images, class_names, progress=not args.no_progress
            )
            where = args.coco_json
        _log(f"{where}: " + report.format(max_problems=20, counts=False))
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
