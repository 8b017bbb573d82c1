"""Evaluating a detector, or existing result files, with the VOC and COCO metrics.

:func:`evaluate_detector` runs a :class:`utils.inference.detector.Detector` over dataset
samples (training calls it on its validation split, ``get_map.py --data`` on a test split);
:func:`evaluate_map_out` re-evaluates a ``map_out`` folder of text files. Both end in
:func:`evaluate_data`, which computes the metrics and, given an output folder, writes
``results.json``, ``results.txt``, the plots and the text files it evaluated
(:mod:`utils.evaluation.report`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from utils import options
from utils.evaluation import map_io
from utils.evaluation.coco import coco_evaluate
from utils.evaluation.map_out_report import MapOutReport
from utils.evaluation.metrics import (
    EvalData,
    iou_key,
    parse_iou_thresholds,
    voc_evaluate_many,
    voc_size_bands,
)
from utils.evaluation.report import StrPath, write_outputs

if TYPE_CHECKING:
    from utils.data.samples import Sample
    from utils.inference.base import Detections, DetectorBase

# Where one-line messages go (``print``, a logger's method, ...).
LogFunction = Callable[[str], object]

METRICS = cast("tuple[str, ...]", options.OPTIONS["metric"].choices)
# get_map.py's defaults (the options table, mode 'eval').
IOUS = parse_iou_thresholds(options.default("iou", "eval"))
METRIC = options.default("metric", "eval")
SCORE_THRESHOLD = options.default("score_threshold", "eval")
VOC07 = options.default("voc07", "eval")
COCO_COMPAT = options.default("coco_compat", "eval")
BATCH_SIZE = options.default("batch_size", "eval")
PLOTS = options.default("plots", "eval")


# ---------------------------------------------------------------------------------------------
# Running a detector


def detect_samples(
    detector: DetectorBase,
    samples: Sequence[Sample],
    progress: bool = True,
    report: MapOutReport | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[list[Sample], list[Detections]]:
    """Run ``detector`` on every sample's image, ``batch_size`` images per run.

    Returns ``(kept_samples, detections)``, two lists of equal length. Images that cannot be
    read are left out and recorded in ``report.unreadable_images`` (when a report is given).
    """
    from tqdm import tqdm

    from utils.data.images import ImageLoadError, load_image
    from utils.inference.base import detect_in_batches

    # A detector reads its images itself (a fast one decodes large JPEGs at reduced scale);
    # any other object with detect_batch gets them decoded in full.
    load = getattr(detector, "load", load_image)

    def readable():
        for sample in samples:
            try:
                yield sample, load(sample.image_path, apply_exif=False)
            except ImageLoadError as exc:
                if report is not None:
                    report.unreadable_images.append((sample.image_path, str(exc)))
                bar.update(1)

    kept, results = [], []
    with tqdm(
        total=len(samples), desc="detecting", unit="img", disable=not progress, dynamic_ncols=True
    ) as bar:
        for sample, _, detections in detect_in_batches(detector, readable(), batch_size):
            kept.append(sample)
            results.append(detections)
            bar.update(1)
    return kept, results


def samples_to_data(
    samples: Sequence[Sample], detections: Sequence[Detections], class_names: Sequence[str]
) -> EvalData:
    """:class:`EvalData` from dataset samples and their :class:`Detections`.

    Images are sorted by id and detections quantised as the text files store them, so the
    result equals what re-reading the written ``map_out`` gives.
    """
    order = sorted(range(len(samples)), key=lambda i: str(samples[i].image_id))
    gt_image, gt_class, gt_boxes, gt_difficult = [], [], [], []
    det_image, det_class, det_scores, det_boxes = [], [], [], []
    for new_index, i in enumerate(order):
        sample, dets = samples[i], detections[i]
        n = len(sample.class_ids)
        gt_image.append(np.full(n, new_index))
        gt_class.append(np.asarray(sample.class_ids, np.int64))
        gt_boxes.append(np.asarray(sample.boxes, np.float64).reshape(-1, 4))
        gt_difficult.append(np.asarray(sample.difficult, bool).reshape(-1))
        boxes, scores = map_io.quantize_detections(dets.boxes, dets.scores)
        det_image.append(np.full(len(scores), new_index))
        det_class.append(np.asarray(dets.class_ids, np.int64))
        det_scores.append(scores)
        det_boxes.append(boxes)

    def cat(parts, shape=(0,), dtype=np.float64):
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    return EvalData(
        image_ids=[str(samples[i].image_id) for i in order],
        class_names=class_names,
        gt_image=cat(gt_image),
        gt_class=cat(gt_class),
        gt_boxes=cat(gt_boxes, (0, 4)),
        gt_difficult=cat(gt_difficult, dtype=bool),
        det_image=cat(det_image),
        det_class=cat(det_class),
        det_scores=cat(det_scores),
        det_boxes=cat(det_boxes, (0, 4)),
        image_sizes=[(int(samples[i].width), int(samples[i].height)) for i in order],
    )


def evaluate_detector(
    detector: DetectorBase,
    samples: Sequence[Sample],
    class_names: Sequence[str],
    out_dir: StrPath | None = None,
    iou_thresholds: Sequence[float] = IOUS,
    metric: str = METRIC,
    score_threshold: float = SCORE_THRESHOLD,
    voc07: bool = VOC07,
    progress: bool = True,
    coco_compat: bool = COCO_COMPAT,
    log: LogFunction | None = None,
    batch_size: int = BATCH_SIZE,
    plots: bool = PLOTS,
) -> dict[str, Any]:
    """Detect on ``samples`` and evaluate.

    Args:
        detector: a :class:`utils.inference.detector.Detector` (its conf / nms_iou / max_boxes are
        used
            as set; get_map uses 0.001 / 0.5 like the original).
        samples: dataset samples (``utils.data.Sample``), difficult objects flagged.
        class_names: the detector's classes.
        out_dir: when given, write the outputs there (see :func:`evaluate_data`).
        iou_thresholds, metric, score_threshold, voc07, coco_compat, plots: see
            :func:`evaluate_data`.
        progress: show a progress bar while detecting.
        log: callable for one-line messages (e.g. ``print``); None keeps quiet.

    Returns:
        The results dict (as written to ``results.json``).
    """
    report = MapOutReport()
    kept, detections = detect_samples(
        detector, samples, progress=progress, report=report, batch_size=batch_size
    )
    data = samples_to_data(kept, detections, class_names)
    report.no_ground_truth = [
        data.image_ids[i] for i in sorted(set(range(data.num_images)) - set(data.gt_image.tolist()))
    ]
    settings = {
        "source": "detector",
        "images": len(samples),
        "detector": detector.describe() if hasattr(detector, "describe") else None,
    }
    return evaluate_data(
        data,
        out_dir=out_dir,
        iou_thresholds=iou_thresholds,
        metric=metric,
        score_threshold=score_threshold,
        voc07=voc07,
        coco_compat=coco_compat,
        report=report,
        write_txt=True,
        settings=settings,
        log=log,
        plots=plots,
    )


def evaluate_map_out(
    map_out_dir: StrPath,
    class_names: Sequence[str] | None = None,
    out_dir: StrPath | None = None,
    iou_thresholds: Sequence[float] = IOUS,
    metric: str = METRIC,
    score_threshold: float = SCORE_THRESHOLD,
    voc07: bool = VOC07,
    coco_compat: bool = COCO_COMPAT,
    log: LogFunction | None = None,
    plots: bool = PLOTS,
) -> dict[str, Any]:
    """Evaluate an existing ``map_out`` folder (``ground-truth/``, ``detection-results/``).

    ``class_names`` None evaluates the classes found in the ground truth. Raises
    :class:`utils.evaluation.map_io.MapOutError` when the folder cannot be evaluated at all;
    everything
    else wrong is reported in ``results["input_report"]`` (and through ``log``). The text
    files are not copied to ``out_dir``: ``results.json`` names the folder they were read from.
    """
    data, report, listing_order = map_io.read_map_out(map_out_dir, class_names)
    settings = {"source": os.path.abspath(map_out_dir)}
    return evaluate_data(
        data,
        out_dir=out_dir,
        iou_thresholds=iou_thresholds,
        metric=metric,
        score_threshold=score_threshold,
        voc07=voc07,
        coco_compat=coco_compat,
        report=report,
        write_txt=False,
        listing_order=listing_order,
        settings=settings,
        log=log,
        plots=plots,
    )


# ---------------------------------------------------------------------------------------------
# Computing and writing


def evaluate_data(
    data: EvalData,
    out_dir: StrPath | None = None,
    iou_thresholds: Sequence[float] = IOUS,
    metric: str = METRIC,
    score_threshold: float = SCORE_THRESHOLD,
    voc07: bool = VOC07,
    coco_compat: bool = COCO_COMPAT,
    report: MapOutReport | None = None,
    write_txt: bool = True,
    listing_order: Iterable[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    log: LogFunction | None = None,
    plots: bool = PLOTS,
) -> dict[str, Any]:
    """Compute the metrics on an :class:`EvalData` and optionally write every output.

    Args:
        iou_thresholds: VOC IoU thresholds; results are keyed by :func:`iou_key` ("0.5").
        metric: "voc", "coco" or "both".
        score_threshold: where per-class precision, recall and F1 are read.
        voc07: 11-point AP instead of all-point.
        coco_compat: reproduce the original's COCO converter quirks (see
            :func:`utils.evaluation.coco.coco_evaluate`).
        out_dir: folder for ``results.json``, ``results.txt``, ``coco_eval/`` (COCO), the
            plots (with ``plots``) and (with ``write_txt``) ``ground-truth/`` and
            ``detection-results/``.
        plots: draw ``pr_curves/<class>.png`` and ``ap_per_class_iou<k>.png`` in ``out_dir``.
        report: a :class:`utils.evaluation.MapOutReport` of input problems, included in the
        results.

    Returns:
        ``{"classes", "num_images", "settings", "voc": {key: {...}}, "coco": {...},
        "input_report": {...}}``; AP values are fractions in [0, 1].
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    report = report or MapOutReport()
    results: dict[str, Any] = {
        "classes": list(data.class_names),
        "num_images": data.num_images,
        **_object_counts(data),
        "settings": dict(
            settings or {},
            iou_thresholds=[float(t) for t in iou_thresholds],
            metric=metric,
            score_threshold=float(score_threshold),
            ap_interpolation="11-point (VOC2007)" if voc07 else "all-point",
            coco_compat=bool(coco_compat),
        ),
    }
    voc_raw: dict[str, Any] = {}
    if metric in ("voc", "both"):
        voc_raw = _voc_results(data, iou_thresholds, voc07, score_threshold, results)
    coco = None
    if metric in ("coco", "both"):
        coco = coco_evaluate(data, reference_compat=coco_compat, listing_order=listing_order)
        results["coco"] = {k: coco[k] for k in ("stats", "stat_names", "ap", "ap50")}
    results["input_report"] = dict(report.to_dict(), messages=report.lines(max_listed=50))

    if log is not None:
        for line in report.lines():
            log(line)
    if out_dir is not None:
        write_outputs(out_dir, data, results, coco, voc_raw if plots else None, write_txt)
    return results


def _per_class(data: EvalData, class_ids: np.ndarray) -> dict[str, int]:
    counts = np.bincount(class_ids, minlength=data.num_classes)
    return {name: int(count) for name, count in zip(data.class_names, counts)}


def _object_counts(data: EvalData) -> dict[str, dict[str, int]]:
    """Ground-truth objects (difficult ones apart) and detections per class."""
    return {
        "num_ground_truth": _per_class(data, data.gt_class[~data.gt_difficult]),
        "num_difficult": _per_class(data, data.gt_class[data.gt_difficult]),
        "num_detections": _per_class(data, data.det_class),
    }


def _voc_results(
    data: EvalData,
    iou_thresholds: Sequence[float],
    voc07: bool,
    score_threshold: float,
    results: dict[str, Any],
) -> dict[str, Any]:
    """Fill ``results["voc"]`` (and the mean over several IoUs); return the raw per-IoU
    results the plots read."""
    voc_raw = {}
    results["voc"] = {}
    raws = voc_evaluate_many(data, iou_thresholds, voc07=voc07, score_threshold=score_threshold)
    for threshold, raw in zip(iou_thresholds, raws):
        voc_raw[iou_key(threshold)] = raw
        results["voc"][iou_key(threshold)] = _voc_json(raw)
    if len(iou_thresholds) > 1:
        results["voc_mean_mAP"] = float(np.mean([r["mAP"] for r in voc_raw.values()]))
    results["voc_sizes"] = voc_size_bands(data, 0.5, voc07, score_threshold)
    return voc_raw


def _voc_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    with_gt = [c for c in raw["classes"] if c.num_gt > 0]
    return {
        "mAP": raw["mAP"],
        "ap": {c.name: c.ap for c in with_gt},
        "precision": {c.name: c.precision_at for c in with_gt},
        "recall": {c.name: c.recall_at for c in with_gt},
        "f1": {c.name: c.f1_at for c in with_gt},
        "lamr": {c.name: c.lamr for c in with_gt},
        "tp": {c.name: c.tp for c in raw["classes"]},
        "fp": {c.name: c.fp for c in raw["classes"]},
        "ignored_difficult": {c.name: c.ignored for c in raw["classes"]},
        "classes_without_ground_truth": [c.name for c in raw["classes"] if c.num_gt == 0],
    }
