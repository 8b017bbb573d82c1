"""Tracking metrics of one sequence: HOTA, CLEAR MOT (MOTA, MOTP, ID switches) and identity
(IDF1), computed by the ``trackers`` library's metric functions.

The files are read and prepared here (:mod:`utils.tracking.mot`), as the MOT Challenge
evaluation (TrackEval) prepares them: ignored ground truth is dropped, predictions that match
a MOT16/17 distractor box (Hungarian matching at IoU >= 0.5 against every ground-truth box of
the frame) are removed, and the sequence runs from frame 1 to the last frame of either file.
The library's own file loader is not used: it reads column 8 as a class and keeps only rows
whose column 8 is 1, which leaves almost nothing of a MOT15 ground truth.

Metrics are stored and printed as percentages; counts as integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from utils.tracking import TrackingError
from utils.tracking.mot import MotData

# TrackEval's fixed threshold for the distractor matching, whatever --iou-threshold is.
DISTRACTOR_IOU = 0.5
_EPS = np.finfo(float).eps
# The columns track_eval.py prints; every name of TrackMetrics.as_dict() can be one.
TABLE_COLUMNS = ("HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDSW", "FP", "FN")
_NAMES = {  # TrackMetrics field: the metric's usual name
    "hota": "HOTA",
    "det_a": "DetA",
    "ass_a": "AssA",
    "mota": "MOTA",
    "motp": "MOTP",
    "idf1": "IDF1",
    "idp": "IDP",
    "idr": "IDR",
    "idsw": "IDSW",
    "fp": "FP",
    "fn": "FN",
    "tp": "TP",
    "gt_boxes": "GT",
    "mt": "MT",
    "ml": "ML",
    "frag": "Frag",
    "frames": "frames",
    "gt_ids": "gt_ids",
    "pred_ids": "pred_ids",
}


@dataclass(frozen=True)
class TrackMetrics:
    """One sequence's (or several sequences' combined) metrics; scores in percent."""

    hota: float
    det_a: float
    ass_a: float
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    idsw: int
    fp: int
    fn: int
    tp: int
    gt_boxes: int  # scored ground-truth boxes, TP + FN
    mt: int  # ground-truth ids tracked for more than 80% of their frames
    ml: int  # ... for less than 20%
    frag: int
    frames: int
    gt_ids: int
    pred_ids: int
    # The library's dictionaries, to combine sequences as the benchmarks do.
    raw: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, float | int]:
        """{"HOTA": ..., "MOTA": ..., "IDSW": ...}: the usual names, JSON-ready."""
        values = asdict(self)
        return {name: values[key] for key, name in _NAMES.items()}


def evaluate_tracks(gt: MotData, pred: MotData, iou_threshold: float = 0.5) -> TrackMetrics:
    """Score the tracks ``pred`` against the ground truth ``gt`` of the same sequence.

    ``iou_threshold`` is where a box matches for CLEAR and identity; HOTA averages over IoU
    0.05...0.95 itself. Raises :class:`TrackingError` when an id is in one frame twice.
    """
    from trackers.eval import (
        compute_clear_metrics,
        compute_hota_metrics,
        compute_identity_metrics,
    )

    gt_ids, pred_ids, similarity, frames = _prepare(gt, pred)
    clear = compute_clear_metrics(gt_ids, pred_ids, similarity, threshold=iou_threshold)
    hota = compute_hota_metrics(gt_ids, pred_ids, similarity)
    identity = compute_identity_metrics(gt_ids, pred_ids, similarity, threshold=iou_threshold)
    counts = {
        "frames": frames,
        "gt_ids": len(np.unique(np.concatenate(gt_ids))) if gt_ids else 0,
        "pred_ids": len(np.unique(np.concatenate(pred_ids))) if pred_ids else 0,
    }
    return _metrics(clear, hota, identity, counts)


def combine_metrics(results: Sequence[TrackMetrics]) -> TrackMetrics:
    """Several sequences' metrics as one, as the benchmarks' "combined" row: counts summed,
    the scores computed again from the sums (HOTA's association weighted by its matches)."""
    from trackers.eval import (
        aggregate_clear_metrics,
        aggregate_hota_metrics,
        aggregate_identity_metrics,
    )

    clear = aggregate_clear_metrics([r.raw["CLEAR"] for r in results])
    hota = aggregate_hota_metrics([r.raw["HOTA"] for r in results])
    identity = aggregate_identity_metrics([r.raw["Identity"] for r in results])
    counts = {name: sum(getattr(r, name) for r in results) for name in ("frames", "gt_ids")}
    counts["pred_ids"] = sum(r.pred_ids for r in results)
    return _metrics(clear, hota, identity, counts)


def _metrics(
    clear: dict[str, Any], hota: dict[str, Any], identity: dict[str, Any], counts: dict[str, int]
) -> TrackMetrics:
    def percent(value: float) -> float:
        return 100.0 * float(value)

    return TrackMetrics(
        hota=percent(hota["HOTA"]),
        det_a=percent(hota["DetA"]),
        ass_a=percent(hota["AssA"]),
        mota=percent(clear["MOTA"]),
        motp=percent(clear["MOTP"]),
        idf1=percent(identity["IDF1"]),
        idp=percent(identity["IDP"]),
        idr=percent(identity["IDR"]),
        idsw=int(clear["IDSW"]),
        fp=int(clear["CLR_FP"]),
        fn=int(clear["CLR_FN"]),
        tp=int(clear["CLR_TP"]),
        gt_boxes=int(clear["CLR_TP"] + clear["CLR_FN"]),
        mt=int(clear["MT"]),
        ml=int(clear["ML"]),
        frag=int(clear["Frag"]),
        frames=counts["frames"],
        gt_ids=counts["gt_ids"],
        pred_ids=counts["pred_ids"],
        raw={"CLEAR": clear, "HOTA": hota, "Identity": identity},
    )


def _prepare(
    gt: MotData, pred: MotData
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], int]:
    """Per frame 1..last: the scored gt ids and predicted ids (both 0-based and contiguous,
    as the library's metrics index arrays by them) and their IoU matrix."""
    from trackers.eval import box_iou

    frames = max(gt.last_frame, pred.last_frame)
    scored = pred.select(pred.considered)
    # Ids numbered 0, 1, 2... in sorted order, over the rows that are scored.
    gt_index = np.unique(gt.ids[gt.considered], return_inverse=True)[1]
    pred_index = np.unique(scored.ids, return_inverse=True)[1]
    gt_rows, pred_rows = _by_frame(gt.frames, frames), _by_frame(scored.frames, frames)
    distractors = gt.distractors
    gt_position = np.cumsum(gt.considered) - 1  # a considered row's place in gt_index
    all_gt, all_pred, all_similarity = [], [], []
    for frame in range(1, frames + 1):
        in_frame = gt_rows[frame]
        ours = pred_rows[frame]
        if distractors[in_frame].any() and len(ours):
            ours = ours[
                _not_on_distractors(gt.boxes[in_frame], distractors[in_frame], scored, ours)
            ]
        kept_gt = in_frame[gt.considered[in_frame]]
        ids_gt = gt_index[gt_position[kept_gt]]
        ids_pred = pred_index[ours]
        _check_unique(gt, kept_gt, frame)
        _check_unique(scored, ours, frame)
        all_gt.append(ids_gt.astype(np.intp))
        all_pred.append(ids_pred.astype(np.intp))
        all_similarity.append(box_iou(gt.boxes[kept_gt], scored.boxes[ours], box_format="xywh"))
    return all_gt, all_pred, all_similarity, frames


def _by_frame(frames: np.ndarray, last: int) -> list[np.ndarray]:
    """Row indices of each frame 0..last (index 0 unused), in file order."""
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(last + 2))
    return [order[bounds[f] : bounds[f + 1]] for f in range(last + 1)]


def _not_on_distractors(
    gt_boxes: np.ndarray, distractor: np.ndarray, pred: MotData, rows: np.ndarray
) -> np.ndarray:
    """Mask of ``rows`` to keep: those not matched to a distractor box, the match made with
    every ground-truth box of the frame (a prediction on a pedestrian stays)."""
    from scipy.optimize import linear_sum_assignment
    from trackers.eval import box_iou

    iou = box_iou(gt_boxes, pred.boxes[rows], box_format="xywh")
    iou[iou < DISTRACTOR_IOU - _EPS] = 0
    matched_gt, matched_pred = linear_sum_assignment(-iou)
    real = iou[matched_gt, matched_pred] > _EPS
    keep = np.ones(len(rows), bool)
    keep[matched_pred[real][distractor[matched_gt[real]]]] = False
    return keep


def _check_unique(data: MotData, rows: np.ndarray, frame: int) -> None:
    ids = data.ids[rows]
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        twice = int(unique[counts > 1][0])
        lines = data.lines[rows][ids == twice][:2]
        raise TrackingError(
            f"{data.path}, lines {lines[0]} and {lines[1]}: id {twice} twice in frame {frame} "
            "(a track has one box per frame)"
        )


# ------------------------------------------------------------------------------------ tables


def metric_cells(metrics: TrackMetrics, columns: Sequence[str] = TABLE_COLUMNS) -> list[str]:
    """``columns`` of ``metrics`` as text: scores in percent to 1 decimal, counts whole."""
    values = metrics.as_dict()
    return [f"{values[c]:.1f}" if isinstance(values[c], float) else str(values[c]) for c in columns]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], labels: int = 1) -> str:
    """An aligned plain-text table; the first ``labels`` columns left-aligned, the rest right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i < labels else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def metrics_table(
    rows: Sequence[tuple[Sequence[str], TrackMetrics]],
    labels: Sequence[str] = ("sequence", "tracker"),
    columns: Sequence[str] = TABLE_COLUMNS,
) -> str:
    """A table with one row per ``(label values, metrics)``: e.g. sequence and tracker names,
    then ``columns``."""
    body = [[*names, *metric_cells(m, columns)] for names, m in rows]
    return text_table([*labels, *columns], body, labels=len(labels))
