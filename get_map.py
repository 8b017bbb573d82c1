"""VOC and COCO mAP of a model on a VOC-format split, or of existing result files.

Examples:
    python get_map.py --data VOCdevkit/VOC2007 --backbone mobilenetv1 --alpha 0.25
    python get_map.py --data VOCdevkit/VOC2007 --weights logs/best.h5 --iou 0.5:0.95 --metric both
    python get_map.py --map-out map_out --metric coco          # re-evaluate written files
"""
import argparse
import os
import sys

from utils.cli import HelpFormatter, import_tensorflow_quietly, run_cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_parser():
    from utils.config import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_INPUT_SIZE
    parser = argparse.ArgumentParser(
        description="Compute VOC (all-point or 11-point AP, +1 pixel IoU, difficult objects "
                    "ignored) and COCO (pycocotools) mAP, either by running a model over a VOC "
                    "split (--data) or from an existing map_out folder (--map-out).",
        epilog="Outputs in --out: results.json, results.txt, pr_curves/<class>.png, "
               "ap_per_class_iou<IoU>.png, coco_eval/*.json (COCO), and the ground-truth/ and "
               "detection-results/ files evaluated (re-evaluate them with --map-out).",
        formatter_class=HelpFormatter)
    source = parser.add_argument_group("what to evaluate (one of)")
    source.add_argument("--data", metavar="ROOT",
                        help="VOC folder holding Annotations/, JPEGImages/, ImageSets/Main/")
    source.add_argument("--map-out", metavar="DIR",
                        help="folder with ground-truth/<id>.txt and detection-results/<id>.txt")
    data = parser.add_argument_group("dataset and model (with --data)")
    data.add_argument("--split", default="test", help="ImageSets/Main/<split>.txt")
    data.add_argument("--backbone", default=DEFAULT_BACKBONE,
                      help="mobilenetv1, mobilenetv2, mobilenetv3, ghostnet or densenet121")
    data.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="width multiplier")
    data.add_argument("--weights", default=None,
                      help="weights .h5 (default: the published VOC weights of the backbone, "
                           "downloaded once)")
    data.add_argument("--classes", default=None,
                      help="class names file (default with --data: model_data/voc_classes.txt; "
                           "with --map-out: the classes found in the ground truth)")
    data.add_argument("--anchors", default=None, help="anchors file (default model_data/yolo_anchors.txt)")
    data.add_argument("--input-size", default=str(DEFAULT_INPUT_SIZE), help="N or HxW, multiple of 32")
    data.add_argument("--conf", type=float, default=0.001, help="detection score threshold")
    data.add_argument("--nms-iou", type=float, default=0.5, help="NMS IoU threshold")
    data.add_argument("--max-boxes", type=int, default=100, help="detections kept per class")
    metric = parser.add_argument_group("metric")
    metric.add_argument("--iou", nargs="+", default=["0.5"],
                        help="VOC IoU threshold(s): 0.5, several values, or a range 0.5:0.95 "
                             "(step 0.05) / start:stop:step")
    metric.add_argument("--metric", choices=("voc", "coco", "both"), default="voc")
    metric.add_argument("--score-threshold", type=float, default=0.5,
                        help="score at which per-class precision, recall and F1 are read")
    metric.add_argument("--voc07", action="store_true", help="11-point AP (VOC2007) instead of all-point")
    metric.add_argument("--coco-compat", action="store_true",
                        help="build the COCO ground truth exactly as the original does (annotation "
                             "ids from 0 in directory order, area w*h-10), to reproduce its "
                             "numbers; its annotation id 0 is then never counted as found")
    parser.add_argument("--out", default="map_out", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _log(message):
    print(message, file=sys.stderr)


def run(args):
    from utils.config import ConfigError, load_class_names
    from utils.evaluation.evaluate import evaluate_detector, evaluate_map_out, format_results
    from utils.evaluation.metrics import parse_iou_thresholds

    if bool(args.data) == bool(args.map_out):
        raise ConfigError("give either --data ROOT (run a model) or --map-out DIR (existing files)")
    try:
        thresholds = parse_iou_thresholds(args.iou)
    except ValueError as exc:
        raise ConfigError(f"--iou: {exc}") from None
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError("--score-threshold must be in [0, 1]")
    common = dict(out_dir=args.out, iou_thresholds=thresholds, metric=args.metric,
                  score_threshold=args.score_threshold, voc07=args.voc07,
                  coco_compat=args.coco_compat)

    if args.map_out:
        class_names = load_class_names(args.classes) if args.classes else None
        results = evaluate_map_out(args.map_out, class_names, **common)
    else:
        import_tensorflow_quietly()
        from utils.config import DEFAULT_CLASSES_PATH
        from utils.data.datasets import load_voc_split, resolve_voc_root
        from utils.inference.detector import Detector

        classes_path = args.classes or DEFAULT_CLASSES_PATH
        class_names = load_class_names(classes_path)
        voc_root = resolve_voc_root(args.data)
        samples, report = load_voc_split(voc_root, args.split, class_names,
                                         progress=not args.no_progress)
        _log(f"{voc_root} ({args.split}): " + report.format(max_problems=20, counts=False))
        if not samples:
            raise ConfigError(f"no usable image in {voc_root} split {args.split}")
        detector = Detector.from_options(args.backbone, args.alpha, args.weights, classes_path,
                                         anchors_path=args.anchors, input_size=args.input_size,
                                         conf=args.conf, nms_iou=args.nms_iou,
                                         max_boxes=args.max_boxes)
        load_report = getattr(detector.model, "load_report", None)
        if load_report is not None:
            _log(load_report.summary())
        _log(detector.describe())
        results = evaluate_detector(detector, samples, class_names,
                                    progress=not args.no_progress, **common)
    print(format_results(results))
    print(f"results -> {os.path.join(args.out, 'results.json')}")
    return 0


def main(argv=None):
    # Re-evaluating text files needs no TensorFlow; run() imports it only for a model.
    return run_cli(run, build_parser().parse_args(argv), quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
