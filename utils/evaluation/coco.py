"""COCO mAP@[.5:.95] of an :class:`utils.evaluation.metrics.EvalData` through pycocotools."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from utils.evaluation.metrics import EvalData

# Names of COCOeval's 12 summary statistics, in its order.
COCO_STAT_NAMES = (
    "AP@[.5:.95]",
    "AP@.5",
    "AP@.75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR@1",
    "AR@10",
    "AR@100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def coco_ground_truth(
    data: EvalData,
    annotation_order: Iterable[str] | None = None,
    first_annotation_id: int = 1,
    area_offset: float = 0.0,
) -> dict[str, list[dict[str, Any]]]:
    """COCO ground-truth dict (images, categories, annotations) for pycocotools.

    Category ids are the 1-based class indices, image ids the image id strings, difficult
    objects become ``iscrowd=1`` (ignored by COCOeval, like the original). Image sizes are the
    real ones where ``data.image_sizes`` knows them, else 1 (COCOeval does not use them for
    boxes). ``annotation_order``, ``first_annotation_id`` and ``area_offset`` exist to reproduce
    the original's converter (see :func:`coco_evaluate`).
    """
    sizes = data.image_sizes
    images = []
    for i, image_id in enumerate(data.image_ids):
        width, height = (int(sizes[i, 0]), int(sizes[i, 1])) if sizes is not None else (0, 0)
        images.append(
            {
                "id": image_id,
                "file_name": image_id + ".jpg",
                "width": width or 1,
                "height": height or 1,
            }
        )
    categories = [
        {"id": c + 1, "name": name, "supercategory": name}
        for c, name in enumerate(data.class_names)
    ]
    rows = np.arange(len(data.gt_image))
    if annotation_order is not None:
        position = {image_id: p for p, image_id in enumerate(annotation_order)}
        rank = np.array([position.get(data.image_ids[i], len(position)) for i in data.gt_image])
        rows = rows[np.argsort(rank, kind="stable")]
    boxes = data.gt_boxes
    annotations = []
    for n, row in enumerate(rows.tolist()):
        x1, y1, x2, y2 = boxes[row].tolist()
        w, h = x2 - x1, y2 - y1
        annotations.append(
            {
                "id": first_annotation_id + n,
                "image_id": data.image_ids[data.gt_image[row]],
                "category_id": int(data.gt_class[row]) + 1,
                "bbox": [x1, y1, w, h],
                "area": w * h - area_offset,
                "iscrowd": int(data.gt_difficult[row]),
            }
        )
    return {"images": images, "categories": categories, "annotations": annotations}


def coco_detections(data: EvalData) -> list[dict[str, Any]]:
    """COCO result list (image_id, category_id, bbox [x, y, w, h], score) for pycocotools."""
    boxes = data.det_boxes
    return [
        {
            "image_id": data.image_ids[i],
            "category_id": int(c) + 1,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": s,
        }
        for i, c, (x1, y1, x2, y2), s in zip(
            data.det_image.tolist(),
            data.det_class.tolist(),
            boxes.tolist(),
            data.det_scores.tolist(),
        )
    ]


def coco_evaluate(
    data: EvalData,
    reference_compat: bool = False,
    listing_order: Iterable[str] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """COCO box metrics through pycocotools.

    Args:
        data: an :class:`EvalData`.
        reference_compat: reproduce the original's converter exactly: annotation ids start at
            0 in ``listing_order`` (the ground-truth files as ``os.listdir`` returned them) and
            area is ``w*h - 10``. pycocotools takes annotation id 0 for "unmatched", so a
            detection matching that one object counts as a false positive and the object is
            never recalled: the original's numbers are slightly low. Off by default.
        listing_order: image ids in the order the original would list them (compat only).
        verbose: let COCOeval print its tables.

    Returns:
        ``{"stats": [12 floats], "stat_names": [...], "ap": {class: AP@[.5:.95]},
        "ap50": {class: AP@.5}, "gt": gt_dict, "detections": result_list}``; per-class values
        are None for classes without ground truth. With no detections at all, every statistic
        is 0 (pycocotools cannot load an empty result list).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if reference_compat:
        gt = coco_ground_truth(
            data, annotation_order=listing_order, first_annotation_id=0, area_offset=10.0
        )
    else:
        gt = coco_ground_truth(data)
    dets = coco_detections(data)
    per_class_none = dict.fromkeys(data.class_names)
    if not dets or not gt["annotations"]:
        return {
            "stats": [0.0] * 12,
            "stat_names": list(COCO_STAT_NAMES),
            "ap": dict(per_class_none),
            "ap50": dict(per_class_none),
            "gt": gt,
            "detections": dets,
        }
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # precision: [iou thresholds, recall points, classes, area ranges, max dets]; -1 = no GT.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    ap, ap50 = {}, {}
    for c, name in enumerate(data.class_names):
        values = precision[:, :, c]
        ap[name] = float(values[values > -1].mean()) if np.any(values > -1) else None
        first = values[0]
        ap50[name] = float(first[first > -1].mean()) if np.any(first > -1) else None
    return {
        "stats": [float(s) for s in evaluator.stats],
        "stat_names": list(COCO_STAT_NAMES),
        "ap": ap,
        "ap50": ap50,
        "gt": gt,
        "detections": dets,
    }
