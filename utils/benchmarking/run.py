"""What benchmark.py does with its flags: the rows (exported here, or the files given), each
measured by :func:`utils.benchmarking.measure.measure`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from utils.benchmarking.measure import ModelSpec, Row, measure


def benchmark(args: Any, log: Callable[[str], Any] = print) -> list[Row]:
    """Every row of benchmark.py's table for parsed ``args``."""
    from tqdm import tqdm

    from utils.config import load_class_names
    from utils.data.datasets import dataset_for_args
    from utils.formats import KERAS, family_of
    from utils.options import DEFAULT_CLASSES_PATH

    progress = not args.no_progress
    spec = ModelSpec(
        args.backbone, args.alpha, args.classes, args.anchors, args.input_size, args.preprocess
    )
    class_names = _class_names(args, load_class_names, DEFAULT_CLASSES_PATH)
    dataset = dataset_for_args(args)
    samples = dataset.load(args.split, class_names, progress=progress).samples
    if not samples:
        raise ValueError(f"--split {args.split}: no images to measure on")
    image_path = samples[0].image_path

    rows = []
    keras_asked = "keras" in args.bench_formats and (args.weights or not args.files)
    random = _random_weights(args)
    if random:
        log("--weights none: random weights, measured for size and speed only (no mAP)")
    if keras_asked or not args.files:
        weights = _weights(args, len(class_names))
        if keras_asked:
            rows.append(Row("keras", "float32", file=weights))
    if args.files:
        rows += [Row(family_of(path), "", file=path) for path in args.files]
    else:
        rows += _exported(args, dataset, class_names, weights, progress, log)
    for row in tqdm(rows, desc="measuring", unit="format", disable=not progress):
        if row.error is None:
            keras = family_of(row.file) == KERAS
            measure(
                row, spec, samples, class_names, image_path, args.runs, progress, keras, not random
            )
    return rows


def _random_weights(args):
    return args.weights is not None and str(args.weights).lower() == "none"


def _weights(args, num_classes):
    """The .h5 file to measure: the one given or published, or for ``--weights none`` a model
    with random weights written to ``--out`` (what predict.py and the exports then load)."""
    import os

    from utils.hub import resolve_weights

    if not _random_weights(args):
        return resolve_weights(args.backbone, args.alpha, args.weights)
    import keras

    from nets import save_weights, yolo_body
    from nets.anchors import ANCHORS_MASK
    from nets.head import init_head_priors
    from utils import files

    keras.utils.set_random_seed(0)  # the same random model on every run
    model = yolo_body(
        args.input_size, ANCHORS_MASK, num_classes, backbone=args.backbone, alpha=args.alpha
    )
    init_head_priors(model)
    path = os.path.join(args.out, f"{args.backbone}_{args.alpha:g}_random.h5")
    with files.atomic_path(path) as tmp:
        save_weights(model, tmp)
    return path


def _class_names(args, load_class_names, default_path):
    if args.classes or not args.files:
        return load_class_names(args.classes or default_path)
    from utils.formats import open_runtime

    return list(open_runtime(args.files[0]).metadata["class_names"])


def _exported(args, dataset, class_names, weights, progress, log):
    from nets.anchors import ANCHORS_MASK
    from utils.benchmarking.exports import export_each
    from utils.config import anchors_path_for, load_anchors
    from utils.export.calibration import calibration_canvases
    from utils.inference.detector import load_model

    names = [name for name in args.bench_formats if name != "keras"]
    if not names:
        return []
    canvases = None
    try:
        canvases = calibration_canvases(
            dataset, args.calib_split, class_names, args.calib_images, args.input_size, progress
        )
    except Exception as exc:  # int8 rows will say so; the float exports still run
        log(f"no calibration images from --calib-split {args.calib_split}: {exc}")
    model = load_model(
        args.backbone, args.alpha, weights, len(class_names), args.input_size, ANCHORS_MASK
    )
    return export_each(
        model,
        class_names,
        load_anchors(anchors_path_for(args.anchors, weights)),
        ANCHORS_MASK,
        args.input_size,
        args.out,
        names,
        canvases,
        args.backbone,
        args.alpha,
        progress=progress,
        log=log,
    )
