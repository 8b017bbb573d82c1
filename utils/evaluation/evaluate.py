"""Evaluating a detector, or existing result files, with the VOC and COCO metrics.

:func:`evaluate_detector` runs a :class:`utils.inference.detector.Detector` over dataset samples
(training
calls it on its validation split, ``get_map.py --data`` on a test split);
:func:`evaluate_map_out` re-evaluates a ``map_out`` folder of text files. Both end in
:func:`evaluate_data`, which computes the metrics and, given an output folder, writes
``results.json``, ``results.txt``, the plots and the text files it evaluated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from utils import files, options
from utils.evaluation import map_io
from utils.evaluation.coco import coco_evaluate
from utils.evaluation.metrics import EvalData, iou_key, parse_iou_thresholds, voc_evaluate_many

if TYPE_CHECKING:
    from utils.data.samples import Sample
    from utils.inference.base import Detections, DetectorBase

# A folder to write to.
StrPath = str | os.PathLike[str]
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
    report: map_io.MapOutReport | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[list[Sample], list[Detections]]:
    """Run ``detector`` on every sample's image, ``batch_size`` images per run.

    Returns ``(kept_samples, detections)``, two lists of equal length. Images that cannot be
    read are left out and recorded in ``report.unreadable_images`` (when a report is given).
    """
    from tqdm import tqdm

    from utils.data.images import ImageLoadError, load_image
    from utils.inference.base import detect_in_batches

    def readable():
        for sample in samples:
            try:
                yield sample, load_image(sample.image_path, apply_exif=False)
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
    report = map_io.MapOutReport()
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
    report: map_io.MapOutReport | None = None,
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
        report: a :class:`utils.evaluation.map_io.MapOutReport` of input problems, included in the
        results.

    Returns:
        ``{"classes", "num_images", "settings", "voc": {key: {...}}, "coco": {...},
        "input_report": {...}}``; AP values are fractions in [0, 1].
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    report = report or map_io.MapOutReport()
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
        _write_outputs(out_dir, data, results, coco, voc_raw if plots else None, write_txt)
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
    return voc_raw


def _write_outputs(
    out_dir: StrPath,
    data: EvalData,
    results: dict[str, Any],
    coco: dict | None,
    plot_from: dict[str, Any] | None,
    write_txt: bool,
) -> None:
    """results.json and .txt, the map_out text files, COCO's json and the plots."""
    os.makedirs(out_dir, exist_ok=True)
    if write_txt:
        map_io.write_map_out(out_dir, data)
    if coco is not None:
        _write_coco_json(out_dir, coco)
    files.write_json(os.path.join(out_dir, "results.json"), results)
    files.write_text(os.path.join(out_dir, "results.txt"), format_results(results) + "\n")
    if plot_from:
        write_plots(plot_from, out_dir, float(results["settings"]["score_threshold"]))


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


def _write_coco_json(out_dir: StrPath, coco: Mapping[str, Any]) -> None:
    """The COCO files pycocotools evaluated, so users can feed them to other tools."""
    folder = os.path.join(out_dir, "coco_eval")
    os.makedirs(folder, exist_ok=True)
    files.write_json(os.path.join(folder, "instances_gt.json"), coco["gt"])
    files.write_json(os.path.join(folder, "instances_dr.json"), coco["detections"])


def write_plots(
    voc_raw: Mapping[str, Mapping[str, Any]], out_dir: StrPath, score_threshold: float
) -> None:
    """PR curve per class (a line per IoU) and an AP bar chart per IoU threshold."""
    from utils.evaluation.plots import plot_ap_bars, plot_pr_curve, safe_file_name

    keys = list(voc_raw)
    first = voc_raw[keys[0]]
    for index, cls in enumerate(first["classes"]):
        if cls.num_gt == 0:
            continue
        curves = []
        for key in keys:
            c = voc_raw[key]["classes"][index]
            point = (c.recall_at, c.precision_at) if np.any(c.scores >= score_threshold) else None
            curves.append((key, c.recall, c.precision, c.ap, point))
        plot_pr_curve(
            curves,
            cls.name,
            os.path.join(out_dir, "pr_curves", safe_file_name(cls.name) + ".png"),
            score_threshold=score_threshold,
        )
    for key in keys:
        ap = {c.name: c.ap for c in voc_raw[key]["classes"] if c.num_gt > 0}
        if ap:
            plot_ap_bars(
                ap,
                voc_raw[key]["mAP"],
                os.path.join(out_dir, f"ap_per_class_iou{key}.png"),
                title=f"AP@{key} per class",
            )


def format_results(results: Mapping[str, Any]) -> str:
    """results.json as readable text: VOC table per IoU, COCO statistics, input problems."""
    lines = [
        (
            f"{results['num_images']} images, "
            f"{sum(results['num_ground_truth'].values())} ground-truth objects "
            f"(+{sum(results['num_difficult'].values())} difficult, ignored), "
            f"{sum(results['num_detections'].values())} detections"
        )
    ]
    settings = results["settings"]
    names = results["classes"]
    width = max([len("class")] + [len(n) for n in names])
    for key, voc in results.get("voc", {}).items():
        lines.append("")
        lines.append(
            f"VOC mAP@{key} = {voc['mAP'] * 100:.2f}%  ({settings['ap_interpolation']} AP, "
            f"{len(voc['ap'])} classes with ground truth; P/R/F1 at score >= "
            f"{settings['score_threshold']:g})"
        )
        lines.append(
            f"  {'class':<{width}}  {'AP':>7}  {'P':>7}  {'R':>7}  {'F1':>5}  "
            f"{'GT':>6}  {'dets':>7}  {'TP':>6}  {'FP':>7}"
        )
        for name in names:
            gt = results["num_ground_truth"][name]
            dets = results["num_detections"][name]
            if name in voc["ap"]:
                lines.append(
                    f"  {name:<{width}}  {voc['ap'][name] * 100:6.2f}%  "
                    f"{voc['precision'][name] * 100:6.2f}%  {voc['recall'][name] * 100:6.2f}%  "
                    f"{voc['f1'][name]:5.2f}  {gt:>6}  {dets:>7}  {voc['tp'][name]:>6}  "
                    f"{voc['fp'][name]:>7}"
                )
            elif dets:
                lines.append(
                    f"  {name:<{width}}  {'-':>7}  {'':>7}  {'':>7}  {'':>5}  {gt:>6}  "
                    f"{dets:>7}  {'':>6}  {voc['fp'][name]:>7}   (no ground truth)"
                )
    if "voc_mean_mAP" in results:
        lines.append("")
        keys = ", ".join(results["voc"])
        lines.append(f"VOC mAP averaged over IoU {keys}: {results['voc_mean_mAP'] * 100:.2f}%")
    if "coco" in results:
        coco = results["coco"]
        lines.append("")
        lines.append(
            "COCO (pycocotools, bbox)"
            + (" with the original's converter quirks" if settings.get("coco_compat") else "")
        )
        for name, value in zip(coco["stat_names"], coco["stats"]):
            lines.append(f"  {name:<12} {value:.4f}")
        lines.append(f"  {'class':<{width}}  {'AP':>7}  {'AP50':>7}")
        for name in names:
            if coco["ap"].get(name) is not None:
                lines.append(
                    f"  {name:<{width}}  {coco['ap'][name] * 100:6.2f}%  "
                    f"{coco['ap50'][name] * 100:6.2f}%"
                )
    problems = results.get("input_report", {}).get("messages", [])
    if problems:
        lines.append("")
        lines.append("Input notes:")
        lines.extend("  " + p for p in problems)
    return "\n".join(lines)
