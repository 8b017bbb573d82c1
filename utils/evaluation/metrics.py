"""Detection metrics: the evaluation data and VOC average precision (NumPy); COCO mAP is in
``utils.evaluation.coco``.

Both metrics work on an :class:`EvalData`: flat arrays of ground-truth objects and detections, each
row
tagged with the index of its image and of its class. Readers (``utils.evaluation.map_io``) and the
model
evaluation (``utils.evaluation.evaluate``) build one; nothing here reads or writes files.

VOC conventions follow the original implementation's calculator:

* detections of a class are ranked by score (ties keep file/line order);
* each is compared with the same-class ground truths of its image and takes the one of highest
  IoU (the first on ties), IoU computed with the "+1 pixel" areas;
* IoU >= threshold with a difficult ground truth: ignored (neither TP nor FP); with an unused one:
  TP, and the ground truth is used; with a used one: FP; below the threshold: FP;
* difficult ground truths are not counted as positives;
* AP by all-point interpolation (or the 11-point VOC2007 rule with ``voc07=True``);
* mAP is the mean over classes with at least one non-difficult ground truth.

The matching is vectorised: a detection's ground truth depends only on IoU (not on which ground
truths are already used), so a matched detection is a TP exactly when it is the best-ranked
detection matched to that ground truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from utils.options import default


@dataclasses.dataclass
class EvalData:
    """Ground truth and detections of a set of images, as flat arrays.

    ``gt_*`` arrays have one row per ground-truth object and ``det_*`` arrays one row per
    detection; ``*_image`` index ``image_ids`` and ``*_class`` index ``class_names``. Boxes are
    float64 ``[x1, y1, x2, y2]`` pixels. Rows keep the order they were read in (images in
    ``image_ids`` order, then line order), which decides ties exactly as the original does.
    ``image_sizes`` is an optional (num_images, 2) int array of (width, height), 0 when unknown.
    """

    image_ids: list[str]
    class_names: Sequence[str]
    gt_image: np.ndarray
    gt_class: np.ndarray
    gt_boxes: np.ndarray
    gt_difficult: np.ndarray
    det_image: np.ndarray
    det_class: np.ndarray
    det_scores: np.ndarray
    det_boxes: np.ndarray
    image_sizes: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.image_ids = [str(i) for i in self.image_ids]
        self.class_names = list(self.class_names)
        self.gt_image = np.asarray(self.gt_image, np.int64).reshape(-1)
        self.gt_class = np.asarray(self.gt_class, np.int64).reshape(-1)
        self.gt_boxes = np.asarray(self.gt_boxes, np.float64).reshape(-1, 4)
        self.gt_difficult = np.asarray(self.gt_difficult, bool).reshape(-1)
        self.det_image = np.asarray(self.det_image, np.int64).reshape(-1)
        self.det_class = np.asarray(self.det_class, np.int64).reshape(-1)
        self.det_scores = np.asarray(self.det_scores, np.float64).reshape(-1)
        self.det_boxes = np.asarray(self.det_boxes, np.float64).reshape(-1, 4)
        if self.image_sizes is not None:
            self.image_sizes = np.asarray(self.image_sizes, np.int64).reshape(-1, 2)
        n_gt, n_det = len(self.gt_image), len(self.det_image)
        if not (len(self.gt_class) == len(self.gt_boxes) == len(self.gt_difficult) == n_gt):
            raise ValueError("ground-truth arrays differ in length")
        if not (len(self.det_class) == len(self.det_scores) == len(self.det_boxes) == n_det):
            raise ValueError("detection arrays differ in length")

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ---------------------------------------------------------------------------------------------
# VOC


@dataclasses.dataclass
class ClassResult:
    """VOC result of one class at one IoU threshold.

    ``precision``/``recall``/``scores`` are the ranked curve (detections matched to difficult
    ground truths left out, as they change neither). ``precision_at``/``recall_at``/``f1_at``
    are read at the last rank whose score is >= the score threshold (0 when there is none).
    """

    name: str
    ap: float
    num_gt: int  # non-difficult ground truths
    num_detections: int
    tp: int
    fp: int
    ignored: int  # detections matched to a difficult ground truth
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    precision_at: float
    recall_at: float
    f1_at: float
    lamr: float


def voc_best_matches(data: EvalData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank detections and find the ground truth each one is compared with.

    Returns ``(order, best_iou, match)``: ``order`` lists detection indices sorted by class,
    then by descending score (stable); for ``order[i]``, ``best_iou[i]`` is its highest IoU
    with a same-class ground truth of its image (-1 when none overlaps) and ``match[i]`` the
    index of that ground truth (the first on ties; -1 when there is no candidate). Nothing here
    depends on the IoU threshold.
    """
    num_classes = max(data.num_classes, 1)
    n_det = len(data.det_image)
    order = np.lexsort((np.arange(n_det), -data.det_scores, data.det_class))
    d_img, d_cls = data.det_image[order], data.det_class[order]
    d_boxes = data.det_boxes[order]

    # Ground truths grouped by (image, class); within a group they keep line order, so the
    # first of equal-IoU ground truths wins like in the original's loop.
    gt_key = data.gt_image * num_classes + data.gt_class
    gt_order = np.argsort(gt_key, kind="stable")
    gt_key_sorted = gt_key[gt_order]
    det_key = d_img * num_classes + d_cls
    start = np.searchsorted(gt_key_sorted, det_key, side="left")
    count = np.searchsorted(gt_key_sorted, det_key, side="right") - start

    # Every (detection, candidate ground truth) pair, detections contiguous.
    pair_det = np.repeat(np.arange(n_det), count)
    first_pair = np.cumsum(count) - count
    pair_gt = gt_order[np.repeat(start - first_pair, count) + np.arange(len(pair_det))]
    iou = _voc_pair_iou(d_boxes[pair_det], data.gt_boxes[pair_gt])

    # Best IoU per detection and the first pair reaching it.
    best = np.full(n_det, -1.0)
    has_pairs = count > 0
    if len(pair_det):
        best[has_pairs] = np.maximum.reduceat(iou, first_pair[has_pairs])
    best_pairs = np.flatnonzero(iou == best[pair_det])
    dets_with_best, first = np.unique(pair_det[best_pairs], return_index=True)
    match = np.full(n_det, -1, np.int64)
    match[dets_with_best] = pair_gt[best_pairs[first]]
    return order, best, match


def voc_match_status(
    best_iou: np.ndarray, match: np.ndarray, gt_difficult: ArrayLike, iou_threshold: float
) -> np.ndarray:
    """TP (1), FP (0) or ignored (-1) for ranked detections at one IoU threshold.

    A detection whose best ground truth reaches the threshold is ignored when that ground truth
    is difficult; otherwise it is a TP when it is the best-ranked such detection of that ground
    truth (the original marks the ground truth used), else an FP.
    """
    status = np.zeros(len(best_iou), np.int8)
    hit = (best_iou >= iou_threshold) & (match >= 0)
    gt_difficult = np.asarray(gt_difficult, bool)
    if not len(gt_difficult):  # no ground truth at all: nothing can be hit
        return status
    difficult_hit = hit & gt_difficult[np.maximum(match, 0)]
    status[difficult_hit] = -1
    candidates = np.flatnonzero(hit & ~difficult_hit)
    # Detections are in rank order, so the first detection of each ground truth is its TP.
    _, first_of_gt = np.unique(match[candidates], return_index=True)
    status[candidates[first_of_gt]] = 1
    return status


def _voc_pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box pairs with the +1 pixel convention; -1 where they do not overlap.

    The arithmetic follows the original's order of operations so that values on a threshold
    compare the same way.
    """
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1
    inter = iw * ih
    union = (
        (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
        + (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
        - inter
    )
    overlap = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / np.where(overlap, union, 1.0), -1.0)


def average_precision(recall: ArrayLike, precision: ArrayLike, voc07: bool = False) -> float:
    """AP from a ranked precision/recall curve.

    All-point interpolation (VOC2010+): the area under the monotone precision envelope, summed
    where recall changes. ``voc07``: mean of the envelope at recall 0, 0.1, ..., 1 (0 where the
    recall is never reached).
    """
    recall = np.asarray(recall, np.float64)
    precision = np.asarray(precision, np.float64)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.maximum.accumulate(mpre[::-1])[::-1]
    if voc07:
        points = np.linspace(0.0, 1.0, 11)
        # First curve point reaching each recall level; the envelope there is the best
        # precision at that recall or beyond.
        first = np.searchsorted(recall, points, side="left")
        reached = first < len(recall)
        values = np.zeros_like(points)
        values[reached] = envelope[1:-1][first[reached]]
        return float(values.mean())
    changes = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[changes] - mrec[changes - 1]) * envelope[changes]))


def log_average_miss_rate(precision: np.ndarray, fp_cumsum: ArrayLike, num_images: int) -> float:
    """Log-average miss rate over 9 FPPI points in [0.01, 1] (as the original reports it)."""
    if len(precision) == 0 or num_images == 0:
        return 1.0
    fppi = np.concatenate(([-1.0], np.asarray(fp_cumsum, np.float64) / float(num_images)))
    miss = np.concatenate(([1.0], 1.0 - np.asarray(precision, np.float64)))
    refs = np.logspace(-2.0, 0.0, num=9)
    # fppi is non-decreasing: the last point at or below each reference.
    idx = np.searchsorted(fppi, refs, side="right") - 1
    return float(np.exp(np.mean(np.log(np.maximum(1e-10, miss[idx])))))


def voc_evaluate(
    data: EvalData,
    iou_threshold: float = 0.5,
    voc07: bool = False,
    score_threshold: float = default("score_threshold"),
) -> dict[str, Any]:
    """VOC AP per class at one IoU threshold.

    Returns ``{"mAP": float, "classes": [ClassResult for every class in data.class_names]}``;
    ``mAP`` averages the classes with ``num_gt > 0`` (0.0 when there are none).
    """
    return voc_evaluate_many(data, [iou_threshold], voc07, score_threshold)[0]


def voc_evaluate_many(
    data: EvalData,
    iou_thresholds: Iterable[float],
    voc07: bool = False,
    score_threshold: float = default("score_threshold"),
) -> list[dict[str, Any]]:
    """:func:`voc_evaluate` at several IoU thresholds, sharing the matching work."""
    order, best_iou, match = voc_best_matches(data)
    return [
        _voc_classes(
            data,
            order,
            voc_match_status(best_iou, match, data.gt_difficult, t),
            voc07,
            score_threshold,
        )
        for t in iou_thresholds
    ]


# COCO's object sizes by box area in pixels: small below 32x32, large from 96x96.
SIZE_BANDS = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, np.inf)}


def voc_size_bands(
    data: EvalData,
    iou_threshold: float = 0.5,
    voc07: bool = False,
    score_threshold: float = default("score_threshold"),
) -> dict[str, dict[str, Any]]:
    """VOC mAP of each size band (:data:`SIZE_BANDS`), as COCO scores its APs/APm/APl: ground
    truths outside the band are ignored like difficult ones (so are the detections they match),
    and so are unmatched detections outside the band. Returns ``{band: {"mAP", "num_gt"}}``;
    a band's mAP averages the classes with ground truth in it (None when no class has)."""
    order, best_iou, match = voc_best_matches(data)
    gt_area = np.prod(data.gt_boxes[:, 2:] - data.gt_boxes[:, :2], axis=1)
    det_area = np.prod(data.det_boxes[order, 2:] - data.det_boxes[order, :2], axis=1)
    bands = {}
    for band, (low, high) in SIZE_BANDS.items():
        outside = data.gt_difficult | (gt_area < low) | (gt_area >= high)
        status = voc_match_status(best_iou, match, outside, iou_threshold)
        status[(status == 0) & ((det_area < low) | (det_area >= high))] = -1
        in_band = dataclasses.replace(data, gt_difficult=outside)
        raw = _voc_classes(in_band, order, status, voc07, score_threshold)
        num_gt = int(np.count_nonzero(~outside))
        with_gt = any(c.num_gt for c in raw["classes"])
        bands[band] = {"mAP": raw["mAP"] if with_gt else None, "num_gt": num_gt}
    return bands


def _voc_classes(
    data: EvalData, order: np.ndarray, status: np.ndarray, voc07: bool, score_threshold: float
) -> dict[str, Any]:
    sorted_class = data.det_class[order]
    sorted_scores = data.det_scores[order]
    npos = np.bincount(data.gt_class[~data.gt_difficult], minlength=data.num_classes)
    bounds = np.searchsorted(sorted_class, np.arange(data.num_classes + 1))

    results = []
    for c, name in enumerate(data.class_names):
        cls_status = status[bounds[c] : bounds[c + 1]]
        cls_scores = sorted_scores[bounds[c] : bounds[c + 1]]
        kept = cls_status >= 0
        tp = np.cumsum(cls_status[kept] == 1)
        fp = np.cumsum(cls_status[kept] == 0)
        scores = cls_scores[kept]
        num_gt = int(npos[c])
        recall = tp / max(num_gt, 1)
        precision = tp / np.maximum(tp + fp, 1)
        ap = average_precision(recall, precision, voc07) if num_gt else 0.0
        above = np.flatnonzero(scores >= score_threshold)
        if len(above):
            p_at, r_at = float(precision[above[-1]]), float(recall[above[-1]])
            f1_at = 2 * p_at * r_at / (p_at + r_at) if p_at + r_at > 0 else 0.0
        else:
            p_at = r_at = f1_at = 0.0
        results.append(
            ClassResult(
                name=name,
                ap=ap,
                num_gt=num_gt,
                num_detections=len(cls_status),
                tp=int(tp[-1]) if len(tp) else 0,
                fp=int(fp[-1]) if len(fp) else 0,
                ignored=int(np.count_nonzero(~kept)),
                precision=precision,
                recall=recall,
                scores=scores,
                precision_at=p_at,
                recall_at=r_at,
                f1_at=f1_at,
                lamr=log_average_miss_rate(precision, fp, data.num_images),
            )
        )
    with_gt = [r.ap for r in results if r.num_gt > 0]
    return {"mAP": float(np.mean(with_gt)) if with_gt else 0.0, "classes": results}


def parse_iou_thresholds(values: str | float | Iterable[str | float]) -> tuple[float, ...]:
    """IoU thresholds from strings: '0.5', several values, or 'start:stop' (step 0.05) or
    'start:stop:step'. Returns a sorted-as-given tuple of floats rounded to 4 decimals.

    Raises ValueError with a readable message for anything else.
    """
    if isinstance(values, (str, float, int)):
        values = [values]
    thresholds: list[float] = []
    for value in values:
        for text in str(value).replace(",", " ").split():
            if ":" in text:
                parts = text.split(":")
                if len(parts) not in (2, 3):
                    raise ValueError(
                        f"IoU range must be start:stop or start:stop:step, got {text!r}"
                    )
                try:
                    start, stop = float(parts[0]), float(parts[1])
                    step = float(parts[2]) if len(parts) == 3 else 0.05
                except ValueError:
                    raise ValueError(f"IoU range {text!r} is not numeric") from None
                if step <= 0 or stop < start:
                    raise ValueError(f"IoU range {text!r} is empty")
                count = int(np.floor((stop - start) / step + 1e-9)) + 1
                thresholds.extend(round(start + i * step, 4) for i in range(count))
            else:
                try:
                    thresholds.append(round(float(text), 4))
                except ValueError:
                    raise ValueError(f"IoU threshold {text!r} is not a number") from None
    if not thresholds:
        raise ValueError("no IoU threshold given")
    for t in thresholds:
        if not 0.0 < t <= 1.0:
            raise ValueError(f"IoU threshold {t:g} is outside (0, 1]")
    return tuple(dict.fromkeys(thresholds))  # drop repeats, keep order


def iou_key(threshold: float) -> str:
    """The results key of an IoU threshold: 0.5 -> '0.5', 0.75 -> '0.75'."""
    return f"{round(float(threshold), 4):g}"
