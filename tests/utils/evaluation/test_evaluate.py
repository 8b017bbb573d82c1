"""evaluate_detector / evaluate_map_out with a stand-in detector (no model): outputs, unreadable
images, and agreement between in-memory results and the written files."""

import json
import os

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.data import Sample, load_voc_split
from utils.evaluation.evaluate import evaluate_detector, evaluate_map_out
from utils.inference.detector import Detections

VOC_CLASSES = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]


class OracleDetector:
    """Returns each image's ground truth shifted by ``shift`` pixels, plus one wrong box, so the
    expected AP is known. Expects the images of ``samples`` in order."""

    def __init__(self, samples, shift=0.0):
        self.samples = list(samples)
        self.shift = shift
        self.calls = 0

    def detect(self, image):
        sample = self.samples[self.calls]
        self.calls += 1
        assert image.size == (sample.width, sample.height) and image.mode == "RGB"
        boxes = np.vstack([sample.boxes + self.shift, [[0, 0, 5, 5]]]).astype(np.float32)
        scores = np.linspace(0.9, 0.1, len(boxes)).astype(np.float32)
        class_ids = np.append(sample.class_ids, 0).astype(np.int32)
        return Detections(boxes, scores, class_ids)

    def detect_batch(self, images):
        return [self.detect(image) for image in images]


@pytest.fixture(scope="module")
def voc_mini():
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    samples, _ = load_voc_split(root, "test", VOC_CLASSES)
    assert len(samples) == 5
    return samples


def test_oracle_detector_scores_full_marks_and_writes_outputs(voc_mini, tmp_path):
    out = str(tmp_path / "out")
    results = evaluate_detector(
        OracleDetector(voc_mini),
        voc_mini,
        VOC_CLASSES,
        out_dir=out,
        iou_thresholds=(0.5, 0.75),
        metric="both",
        progress=False,
        plots=True,
    )
    # Every object is found first; the extra boxes rank last (aeroplane has no ground truth).
    assert results["voc"]["0.5"]["mAP"] == 1.0 and results["voc"]["0.75"]["mAP"] == 1.0
    assert set(results["voc"]["0.5"]["ap"]) == {"car", "chair", "dog", "person", "sofa", "train"}
    assert results["num_difficult"]["chair"] == 2
    assert results["coco"]["stats"][0] == pytest.approx(1.0)
    for name in (
        "results.json",
        "results.txt",
        "ap_per_class_iou0.5.png",
        "ap_per_class_iou0.75.png",
        "pr_curves/car.png",
        "coco_eval/instances_gt.json",
        "ground-truth/000001.txt",
        "detection-results/000005.txt",
    ):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "ground-truth", "000004.txt"), encoding="utf8") as f:
        assert "difficult" not in f.read()
    with open(os.path.join(out, "ground-truth", "000005.txt"), encoding="utf8") as f:
        assert f.read().count("difficult") == 2  # two of the chairs
    with open(os.path.join(out, "coco_eval", "instances_gt.json"), encoding="utf8") as f:
        sizes = {(im["width"], im["height"]) for im in json.load(f)["images"]}
    assert sizes == {(s.width, s.height) for s in voc_mini}  # real image sizes


def test_written_files_re_evaluate_to_the_same_numbers(voc_mini, tmp_path):
    out = str(tmp_path / "out")
    first = evaluate_detector(
        OracleDetector(voc_mini, shift=3.6),
        voc_mini,
        VOC_CLASSES,
        out_dir=out,
        iou_thresholds=(0.5, 0.9),
        progress=False,
    )
    assert 0 < first["voc"]["0.9"]["mAP"] < first["voc"]["0.5"]["mAP"]
    assert not os.path.exists(os.path.join(out, "pr_curves"))  # plots only when asked
    again_dir = tmp_path / "again"
    again = evaluate_map_out(out, VOC_CLASSES, iou_thresholds=(0.5, 0.9), out_dir=str(again_dir))
    # The evaluated files are named, not copied.
    assert sorted(os.listdir(again_dir)) == ["results.json", "results.txt"]
    assert again["settings"]["source"] == os.path.abspath(out)
    for key in ("0.5", "0.9"):
        assert again["voc"][key]["mAP"] == first["voc"][key]["mAP"]
        assert again["voc"][key]["ap"] == first["voc"][key]["ap"]


def test_unreadable_image_is_reported_and_left_out(voc_mini):
    truncated = shared_path(
        "datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages", "2007_000027.jpg"
    )
    broken = Sample(
        "2007_000027",
        truncated,
        486,
        500,
        np.array([[174, 101, 349, 351]], np.float32),
        np.array([14], np.int32),
        np.array([False]),
    )
    detector = OracleDetector(voc_mini)
    results = evaluate_detector(detector, voc_mini + [broken], VOC_CLASSES, progress=False)
    assert detector.calls == 5 and results["num_images"] == 5
    assert results["voc"]["0.5"]["mAP"] == 1.0  # its person is not counted as missed
    messages = results["input_report"]["unreadable_images"]
    assert len(messages) == 1 and "2007_000027.jpg" in messages[0]
