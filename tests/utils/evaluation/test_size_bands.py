"""VOC mAP@0.5 per object size: each band scores its own ground truths, and what belongs to
another band neither counts nor costs (COCO's rule for APs / APm / APl)."""

import numpy as np
import pytest

from utils.evaluation.evaluate import evaluate_data
from utils.evaluation.metrics import EvalData, voc_size_bands

SMALL, MEDIUM, LARGE = [10, 10, 30, 30], [100, 100, 160, 160], [300, 300, 500, 500]


def _data(detections, gt=(SMALL, MEDIUM, LARGE), difficult=None):
    boxes = [box for box, _ in detections]
    return EvalData(
        image_ids=["a"],
        class_names=["thing"],
        gt_image=np.zeros(len(gt)),
        gt_class=np.zeros(len(gt)),
        gt_boxes=np.asarray(gt, np.float64),
        gt_difficult=np.zeros(len(gt), bool) if difficult is None else difficult,
        det_image=np.zeros(len(boxes)),
        det_class=np.zeros(len(boxes)),
        det_scores=np.asarray([score for _, score in detections]),
        det_boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
    )


def test_a_missed_small_object_costs_only_the_small_band():
    found = [(LARGE, 0.9), (MEDIUM, 0.8), ([600, 600, 620, 620], 0.7)]  # the last one: a small FP
    bands = voc_size_bands(_data(found))
    assert bands["small"] == {"mAP": 0.0, "num_gt": 1}
    # The small false positive and the matches of other bands are left out of these bands.
    assert bands["medium"] == {"mAP": 1.0, "num_gt": 1}
    assert bands["large"] == {"mAP": 1.0, "num_gt": 1}


def test_a_band_without_ground_truth_has_no_map_and_difficult_ones_are_not_counted():
    bands = voc_size_bands(
        _data([(LARGE, 0.9)], gt=(SMALL, LARGE), difficult=np.array([True, False]))
    )
    assert bands["small"] == {"mAP": None, "num_gt": 0}
    assert bands["medium"] == {"mAP": None, "num_gt": 0}
    assert bands["large"]["mAP"] == pytest.approx(1.0)


def test_the_default_report_has_the_size_bands():
    results = evaluate_data(_data([(LARGE, 0.9), (SMALL, 0.6)]), metric="voc")
    assert results["voc_sizes"]["small"]["mAP"] == 1.0
    assert results["voc_sizes"]["medium"] == {"mAP": 0.0, "num_gt": 1}
