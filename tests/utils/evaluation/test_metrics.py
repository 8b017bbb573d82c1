"""VOC AP and COCO mAP: hand-computed cases, the reference's map_case, and a loop-by-loop
re-statement of the original calculator's rules checked against the vectorised code."""

import json
import os

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.evaluation.coco import coco_evaluate, coco_ground_truth
from utils.evaluation.map_io import read_map_out
from utils.evaluation.metrics import (
    EvalData,
    average_precision,
    iou_key,
    parse_iou_thresholds,
    voc_evaluate,
    voc_evaluate_many,
)


def make_data(gt, dets, class_names=("a",), num_images=None):
    """gt: [(image, class, box, difficult)], dets: [(image, class, score, box)]."""
    images = num_images or 1 + max([g[0] for g in gt] + [d[0] for d in dets] + [0])
    return EvalData(
        image_ids=[f"im{i}" for i in range(images)],
        class_names=list(class_names),
        gt_image=[g[0] for g in gt],
        gt_class=[g[1] for g in gt],
        gt_boxes=[g[2] for g in gt],
        gt_difficult=[g[3] for g in gt],
        det_image=[d[0] for d in dets],
        det_class=[d[1] for d in dets],
        det_scores=[d[2] for d in dets],
        det_boxes=[d[3] for d in dets],
    )


# A one-class case worked out by hand: two objects, one difficult object, a duplicate.
HAND_GT = [
    (0, 0, [0, 0, 9, 9], False),
    (0, 0, [20, 20, 29, 29], False),
    (0, 0, [40, 40, 49, 49], True),
]
HAND_DETS = [
    (0, 0, 0.9, [0, 0, 9, 9]),  # TP
    (0, 0, 0.8, [1, 1, 9, 9]),  # duplicate of the first object: FP
    (0, 0, 0.7, [40, 40, 49, 48]),  # the difficult object: ignored
    (0, 0, 0.6, [20, 21, 29, 29]),  # TP
    (0, 0, 0.5, [100, 100, 120, 120]),
]  # nothing there: FP


def test_hand_case_all_point_ap():
    # Ranked curve without the ignored one: P = 1, 1/2, 2/3, 1/2 at R = 1/2, 1/2, 1, 1.
    # Envelope: 1 up to R 0.5, then 2/3 up to R 1 -> AP = 0.5 + 0.5 * 2/3 = 5/6.
    cls = voc_evaluate(make_data(HAND_GT, HAND_DETS), 0.5)["classes"][0]
    assert cls.ap == pytest.approx(5 / 6, abs=1e-12)
    assert (cls.num_gt, cls.num_detections, cls.tp, cls.fp, cls.ignored) == (2, 5, 2, 2, 1)
    np.testing.assert_allclose(cls.precision, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(cls.recall, [0.5, 0.5, 1, 1])


def test_hand_case_eleven_point_ap():
    # Recall levels 0..0.5 (6 of them) see precision 1, levels 0.6..1 (5) see 2/3 -> 28/33.
    result = voc_evaluate(make_data(HAND_GT, HAND_DETS), 0.5, voc07=True)
    assert result["classes"][0].ap == pytest.approx(28 / 33, abs=1e-12)
    assert result["mAP"] == pytest.approx(28 / 33, abs=1e-12)


def test_detections_without_any_ground_truth_are_all_false_positives():
    """A split whose objects are all of unknown classes still evaluates (every AP is 0)."""
    result = voc_evaluate(make_data([], HAND_DETS), 0.5)
    cls = result["classes"][0]
    assert (cls.num_gt, cls.tp, cls.fp) == (0, 0, 5)


def test_precision_recall_f1_read_at_score_threshold():
    # Last rank with score >= 0.55 is the 0.6 detection: P 2/3, R 1, F1 0.8.
    cls = voc_evaluate(make_data(HAND_GT, HAND_DETS), 0.5, score_threshold=0.55)["classes"][0]
    assert (cls.precision_at, cls.recall_at, cls.f1_at) == pytest.approx((2 / 3, 1.0, 0.8))
    # No detection reaches the threshold: nothing is kept, so all three are 0.
    cls = voc_evaluate(make_data(HAND_GT, HAND_DETS), 0.5, score_threshold=0.95)["classes"][0]
    assert (cls.precision_at, cls.recall_at, cls.f1_at) == (0.0, 0.0, 0.0)


def test_iou_uses_plus_one_pixel_areas():
    # With +1 areas: intersection 5x10 = 50, union 100 -> IoU exactly 0.5 (without the +1
    # convention it would be 36/81 = 0.44 and an FP).
    data = make_data([(0, 0, [0, 0, 9, 9], False)], [(0, 0, 0.9, [0, 0, 4, 9])])
    assert voc_evaluate(data, 0.5)["classes"][0].tp == 1
    assert voc_evaluate(data, 0.51)["classes"][0].tp == 0


def test_detection_compared_with_its_best_ground_truth_only():
    # Two identical objects: both detections pick the first (first of equal IoUs), so the
    # second is a duplicate, as in the original; AP = 0.5 * 1.
    gt = [(0, 0, [0, 0, 9, 9], False), (0, 0, [0, 0, 9, 9], False)]
    dets = [(0, 0, 0.9, [0, 0, 9, 9]), (0, 0, 0.8, [0, 0, 9, 9])]
    cls = voc_evaluate(make_data(gt, dets), 0.5)["classes"][0]
    assert (cls.tp, cls.fp) == (1, 1)
    assert cls.ap == pytest.approx(0.5)


def test_detections_only_match_their_own_image_and_class():
    gt = [(0, 0, [0, 0, 9, 9], False), (1, 1, [0, 0, 9, 9], False)]
    dets = [
        (1, 0, 0.9, [0, 0, 9, 9]),  # right box, wrong image
        (0, 1, 0.8, [0, 0, 9, 9]),
    ]  # right box, wrong class
    result = voc_evaluate(make_data(gt, dets, ("a", "b")), 0.5)
    assert [c.tp for c in result["classes"]] == [0, 0]
    assert result["mAP"] == 0.0


def test_map_averages_classes_with_non_difficult_ground_truth():
    gt = [(0, 0, [0, 0, 9, 9], False), (0, 1, [20, 20, 29, 29], True)]  # b: difficult only
    dets = [(0, 0, 0.9, [0, 0, 9, 9]), (0, 2, 0.9, [50, 50, 60, 60])]  # c: no ground truth
    result = voc_evaluate(make_data(gt, dets, ("a", "b", "c")), 0.5)
    assert [c.num_gt for c in result["classes"]] == [1, 0, 0]
    assert result["mAP"] == 1.0  # only class a counts


def test_average_precision_edges():
    assert average_precision([], []) == 0.0
    assert average_precision([1.0], [1.0]) == 1.0
    assert average_precision([0.5], [1.0]) == 0.5
    assert average_precision([0.5], [1.0], voc07=True) == pytest.approx(6 / 11)


def original_voc_ap(data, iou_threshold):
    """The original calculator's rules, one detection at a time (a slow restatement used to
    check the vectorised version; Python floats, stable sort, explicit 'used' flags)."""
    aps = {}
    for c, name in enumerate(data.class_names):
        objects = {}
        for i in np.flatnonzero(data.gt_class == c):
            objects.setdefault(int(data.gt_image[i]), []).append(
                {
                    "box": data.gt_boxes[i].tolist(),
                    "difficult": bool(data.gt_difficult[i]),
                    "used": False,
                }
            )
        npos = sum(not o["difficult"] for group in objects.values() for o in group)
        if npos == 0:
            continue
        dets = [
            (float(data.det_scores[i]), int(data.det_image[i]), data.det_boxes[i].tolist())
            for i in np.flatnonzero(data.det_class == c)
        ]
        dets.sort(key=lambda d: d[0], reverse=True)
        tp, fp = [0] * len(dets), [0] * len(dets)
        for k, (_, image, bb) in enumerate(dets):
            ovmax, gt_match = -1, None
            for obj in objects.get(image, []):
                bbgt = obj["box"]
                iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0]) + 1
                ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1]) + 1
                if iw > 0 and ih > 0:
                    ua = (
                        (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
                        + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1)
                        - iw * ih
                    )
                    ov = iw * ih / ua
                    if ov > ovmax:
                        ovmax, gt_match = ov, obj
            if ovmax >= iou_threshold:
                if not gt_match["difficult"]:
                    if not gt_match["used"]:
                        tp[k], gt_match["used"] = 1, True
                    else:
                        fp[k] = 1
            else:
                fp[k] = 1
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = tp / npos
        prec = tp / np.maximum(tp + fp, 1)
        mrec = [0.0] + rec.tolist() + [1.0]
        mpre = [0.0] + prec.tolist() + [0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        aps[name] = sum(
            (mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]
        )
    return aps


def random_case(seed, images=30, classes=3):
    """Integer boxes, clustered objects, repeated scores: ties and duplicates on purpose."""
    rng = np.random.default_rng(seed)
    gt, dets = [], []
    for image in range(images):
        for _ in range(rng.integers(0, 5)):
            x, y = rng.integers(0, 60, 2)
            box = [x, y, x + rng.integers(3, 40), y + rng.integers(3, 40)]
            gt.append((image, int(rng.integers(classes)), box, bool(rng.random() < 0.2)))
        for _ in range(rng.integers(0, 12)):
            if gt and rng.random() < 0.7:
                src = gt[rng.integers(len(gt))]
                image_of, cls, box = (image if rng.random() < 0.8 else src[0]), src[1], src[2]
                box = (np.array(box) + rng.integers(-4, 5, 4)).tolist()
                box[2], box[3] = max(box[2], box[0]), max(box[3], box[1])
            else:
                image_of, cls = image, int(rng.integers(classes))
                x, y = rng.integers(0, 60, 2)
                box = [x, y, x + rng.integers(0, 40), y + rng.integers(0, 40)]
            dets.append((image_of, cls, float(rng.choice([0.3, 0.5, 0.7, rng.random()])), box))
    return make_data(gt, dets, [f"c{i}" for i in range(classes)], num_images=images)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_matches_the_original_rules(seed):
    data = random_case(seed)
    thresholds = (0.3, 0.5, 0.75)
    for threshold, result in zip(thresholds, voc_evaluate_many(data, thresholds)):
        expected = original_voc_ap(data, threshold)
        got = {c.name: c.ap for c in result["classes"] if c.num_gt > 0}
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name] == pytest.approx(expected[name], abs=1e-12), (seed, threshold, name)


def test_parse_iou_thresholds():
    assert parse_iou_thresholds("0.5") == (0.5,)
    assert parse_iou_thresholds(["0.5", "0.75"]) == (0.5, 0.75)
    values = parse_iou_thresholds(["0.5:0.95"])
    assert len(values) == 10 and values[0] == 0.5 and values[-1] == 0.95 and values[1] == 0.55
    assert parse_iou_thresholds("0.5:0.7:0.1") == (0.5, 0.6, 0.7)
    assert [iou_key(v) for v in parse_iou_thresholds("0.50 0.75")] == ["0.5", "0.75"]
    for bad in ("x", "1.5", "0", "0.9:0.5", "0.5:"):
        with pytest.raises(ValueError):
            parse_iou_thresholds(bad)


# ------------------------------------------------------------------------------ reference case


@pytest.fixture(scope="module")
def map_case():
    folder = shared_path("reference", "map_case")
    with open(os.path.join(folder, "expected.json"), encoding="utf8") as f:
        expected = json.load(f)
    data, report, listing = read_map_out(folder)
    return data, listing, expected


def test_voc_reproduces_reference_map_case(map_case):
    data, _, expected = map_case
    assert data.class_names == expected["classes"]
    for key, result in zip(("0.5", "0.75"), voc_evaluate_many(data, (0.5, 0.75))):
        assert result["mAP"] == pytest.approx(expected["voc"][key]["mAP"], abs=1e-6)
        for cls in result["classes"]:
            assert cls.ap == pytest.approx(expected["voc"][key]["AP"][cls.name], abs=1e-4)


def test_coco_reference_compat_reproduces_reference_stats(map_case):
    data, listing, expected = map_case
    result = coco_evaluate(data, reference_compat=True, listing_order=listing)
    np.testing.assert_allclose(result["stats"], list(expected["coco"].values()), atol=1e-6, rtol=0)


def test_coco_default_counts_every_annotation(map_case):
    # Proper annotation ids (from 1): the object the original numbers 0 can now be found, so
    # recall and AP can only go up, at most by one object's share.
    data, _, expected = map_case
    result = coco_evaluate(data)
    stats, reference = np.array(result["stats"]), np.array(list(expected["coco"].values()))
    assert np.all(stats >= reference - 1e-12)
    assert 0 < np.max(stats - reference) <= 0.011
    assert result["stats"][1] == pytest.approx(0.39971, abs=1e-4)  # AP@.5
    assert set(result["ap"]) == {"cat", "dog", "person"}
    assert np.mean(list(result["ap"].values())) == pytest.approx(result["stats"][0], abs=1e-9)


def test_coco_ground_truth_conventions():
    data = make_data(
        [(0, 1, [10, 20, 30, 60], True), (1, 0, [0, 0, 5, 5], False)], [], class_names=("a", "b")
    )
    data.image_sizes = np.array([[640, 480], [0, 0]])
    gt = coco_ground_truth(data)
    assert [c["id"] for c in gt["categories"]] == [1, 2]
    assert gt["images"][0]["width"] == 640 and gt["images"][1]["width"] == 1  # unknown -> 1
    first = gt["annotations"][0]
    assert first["id"] == 1 and first["category_id"] == 2 and first["iscrowd"] == 1
    assert first["bbox"] == [10, 20, 20, 40] and first["area"] == 800
    assert coco_evaluate(data)["stats"] == [0.0] * 12  # no detections: zeros, no crash
