"""COCO format end to end: train.py on a COCO instances file (the raccoon images converted in a
fixture) and get_map.py evaluating on one, equal to the same evaluation in VOC form."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, dataset_ids, shared_path, voc_subset


def _voc_to_coco(split, count, path):
    """Write raccoon's first ``count`` images of ``split`` as a COCO instances file."""
    from utils.data import load_voc_split

    root = shared_path("datasets", "raccoon", "VOC2007")
    samples, _ = load_voc_split(root, split, ["raccoon"])
    images, annotations = [], []
    for image_id, sample in enumerate(samples[:count], start=1):
        images.append(
            {
                "id": image_id,
                "file_name": os.path.basename(sample.image_path),
                "width": int(sample.width),
                "height": int(sample.height),
            }
        )
        for (x1, y1, x2, y2), difficult in zip(sample.boxes.tolist(), sample.difficult.tolist()):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 3,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": int(difficult),
                }
            )
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": 3, "name": "raccoon"}],
            }
        )
    )
    return str(path), os.path.join(root, "JPEGImages")


@pytest.mark.slow
def test_train_and_evaluate_on_coco_json(tmp_path, v1_025_weights):
    train_json, images = _voc_to_coco("train", 8, tmp_path / "train.json")
    val_json, _ = _voc_to_coco("test", 6, tmp_path / "val.json")
    save_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--backbone",
            "mobilenetv1",
            "--alpha",
            "0.25",
            "--input-size",
            "128",
            "--batch-size",
            "4",
            "--freeze-epochs",
            "0",
            "--epochs",
            "2",
            "--coco-json",
            train_json,
            "--coco-images",
            images,
            "--val-coco-json",
            val_json,
            "--weights",
            v1_025_weights,
            "--eval-period",
            "1",
            "--seed",
            "0",
            "--save-dir",
            str(save_dir),
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (save_dir / "classes.txt").read_text().split() == ["raccoon"]
    import csv

    rows = list(csv.DictReader(open(save_dir / "history.csv")))
    assert len(rows) == 2 and all(r["map50"] for r in rows)

    def get_map(*source):
        out = tmp_path / ("map_" + str(len(os.listdir(tmp_path))))
        proc = subprocess.run(
            [
                sys.executable,
                "get_map.py",
                *source,
                "--backbone",
                "mobilenetv1",
                "--alpha",
                "0.25",
                "--input-size",
                "128",
                "--weights",
                str(save_dir / "last.h5"),
                "--classes",
                str(save_dir / "classes.txt"),
                "--metric",
                "both",
                "--no-progress",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((out / "results.json").read_text())

    coco = get_map("--coco-json", val_json, "--coco-images", images)
    # The same six images as a VOC split.
    voc_root = voc_subset(tmp_path, "raccoon", {"test": dataset_ids("raccoon", "test", 6)})
    voc = get_map("--data", voc_root, "--split", "test")
    assert coco["voc"]["0.5"]["mAP"] == pytest.approx(voc["voc"]["0.5"]["mAP"], abs=1e-9)
    assert coco["voc"]["0.5"]["mAP"] > 0.05


def test_get_map_coco_json_mistakes_give_one_line(tmp_path):
    for argv, fragment in (
        (
            ["--coco-json", str(tmp_path / "none.json"), "--coco-images", str(tmp_path)],
            "COCO annotation file not found",
        ),
        (["--coco-json", "x.json"], "--coco-json needs --coco-images"),
        (["--coco-json", "x.json", "--coco-images", "d", "--data", "v"], "give one of"),
    ):
        proc = subprocess.run(
            [sys.executable, "get_map.py", *argv, "--out", str(tmp_path / "o")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and fragment in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
