"""Reading and writing the original's map_out text layout, bad input included."""

import os

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.evaluation.map_io import (
    MapOutError,
    parse_det_line,
    parse_gt_line,
    quantize_detections,
    read_map_out,
    write_map_out,
)
from utils.evaluation.metrics import voc_evaluate


def write_case(root, gt, det):
    """gt/det: {image id: text or None (no file)}."""
    for sub, files in (("ground-truth", gt), ("detection-results", det)):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        for image_id, text in files.items():
            if text is not None:
                with open(os.path.join(root, sub, image_id + ".txt"), "w", encoding="utf8") as f:
                    f.write(text)
    return str(root)


def test_line_parsers_take_numbers_from_the_right():
    assert parse_gt_line("traffic light 1 2 30 40") == ("traffic light", [1, 2, 30, 40], False)
    assert parse_gt_line("dog 1 2 3 4 difficult") == ("dog", [1, 2, 3, 4], True)
    assert parse_det_line("potted plant 0.25 1.5 2 3 4") == ("potted plant", 0.25, [1.5, 2, 3, 4])
    for bad in ("dog 1 2 3", "dog a 2 3 4", "dog 5 2 3 4", "dog 1 2 3 nan"):
        with pytest.raises(ValueError):
            parse_gt_line(bad)
    with pytest.raises(ValueError, match="not numbers"):
        parse_det_line("dog high 1 2 3 4")


def test_bad_input_is_reported_not_fatal(tmp_path):
    root = write_case(
        tmp_path,
        gt={
            "a": "dog 0 0 9 9\ncat 20 20 29 29\n",
            "b": "dog 0 0 9 9\nzebra 1 1 5 5\n",
            "c": "dog 0 0 9 9\n",  # no detection file
            "d": "",  # an image with no object
            "e": "dog 0 0 nine 9\n",  # malformed ground truth
        },
        det={
            "a": "dog 0.9 0 0 9 9\ncat 0.8 20 20 29 29\n",
            "b": "dog 0.9 0 0 9 9\ngarbage\ndog 0.7 1 1 5\nzebra 0.9 1 1 5 5\nzebra 0.8 1 1 5 5\n",
            "d": "dog 0.5 0 0 9 9\n",
            "e": "",
            "orphan": "dog 0.5 0 0 9 9\n",  # no ground-truth file
        },
    )
    data, report, _ = read_map_out(root, ["cat", "dog"])
    assert data.image_ids == ["a", "b", "c", "d", "e"]
    assert len(data.gt_image) == 4 and len(data.det_image) == 4
    assert report.missing_detections == ["c"]
    assert report.orphan_detections == ["orphan"]
    assert report.no_ground_truth == ["d", "e"]
    assert report.unknown_gt == {"zebra": 1} and report.unknown_det == {"zebra": 2}
    where = [w for w, _ in report.malformed]
    assert where == [
        "ground-truth/e.txt:1",
        "detection-results/b.txt:2",
        "detection-results/b.txt:3",
    ]
    text = "\n".join(report.lines())
    assert "1 image has no detection file" in text  # said once, with a count
    assert "ground-truth/e.txt:1: coordinates are not numbers" in text
    assert "3 detections of classes not in the class list" not in text
    assert "2 detections of classes not in the class list were ignored: 'zebra' x2" in text
    # Evaluation goes on with what could be read: dog 3 objects, 2 found, d's box is an FP.
    dog = voc_evaluate(data, 0.5)["classes"][1]
    assert (dog.num_gt, dog.tp, dog.fp) == (3, 2, 1)


def test_classes_default_to_those_in_the_ground_truth(tmp_path):
    root = write_case(
        tmp_path,
        gt={"a": "traffic light 0 0 9 9\ncar 5 5 20 20 difficult\n"},
        det={"a": "traffic light 0.9 0 0 9 9\nbus 0.4 0 0 9 9\n"},
    )
    data, report, _ = read_map_out(root)
    assert data.class_names == ["car", "traffic light"]
    assert data.gt_difficult.tolist() == [False, True]
    assert report.unknown_det == {"bus": 1}
    assert voc_evaluate(data)["mAP"] == 1.0  # car has only a difficult object


def test_unusable_folders_raise(tmp_path):
    with pytest.raises(MapOutError, match="no such folder"):
        read_map_out(str(tmp_path / "missing"))
    os.makedirs(tmp_path / "ground-truth")
    with pytest.raises(MapOutError, match="detection-results"):
        read_map_out(str(tmp_path))
    os.makedirs(tmp_path / "detection-results")
    with pytest.raises(MapOutError, match="no ground-truth"):
        read_map_out(str(tmp_path))


def test_write_then_read_round_trip(tmp_path):
    data, _, _ = read_map_out(shared_path("reference", "map_case"))
    write_case(tmp_path, gt={"stale": "dog 0 0 9 9\n"}, det={"stale": ""})  # an earlier run's
    write_map_out(str(tmp_path), data)
    again, report, _ = read_map_out(str(tmp_path), data.class_names)
    assert not report.malformed and not report.missing_detections
    assert again.image_ids == data.image_ids
    for field in (
        "gt_image",
        "gt_class",
        "gt_boxes",
        "gt_difficult",
        "det_image",
        "det_class",
        "det_scores",
        "det_boxes",
    ):
        np.testing.assert_array_equal(getattr(again, field), getattr(data, field), err_msg=field)


def test_quantize_detections_matches_the_written_text():
    boxes, scores = quantize_detections(
        np.array([[1.7, -2.6, 30.2, 40.99]]), np.array([0.12345678])
    )
    assert boxes.tolist() == [[1.0, -2.0, 30.0, 40.0]]  # int() like the original
    assert scores.tolist() == [float("0.123457")]
