"""One dataset in three formats: raccoon and voc_mini converted by convert_dataset.py to COCO and
YOLO train the same batches, give get_map.py identical results, and every tool that reads data
takes every format."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import check_dataset
import convert_dataset
import export
import get_map
import kmeans_for_anchors
import train
from tests.conftest import ROOT, dataset_ids, shared_path, voc_subset

FORMATS = ("voc", "coco", "yolo")
MODEL = ["--backbone", "mobilenetv1", "--alpha", "0.25", "--input-size", "128"]


def _three_forms(voc_root, folder):
    """{format: --data path} of a VOC folder and its COCO and YOLO conversions."""
    forms = {"voc": voc_root}
    for target in ("coco", "yolo"):
        out = os.path.join(folder, target)
        assert convert_dataset.main(["--data", voc_root, "--to", target, "--out", out]) == 0
        forms[target] = out
    forms["yolo"] = os.path.join(forms["yolo"], "data.yaml")
    return forms


@pytest.fixture(scope="module")
def raccoon_forms(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("raccoon"))
    splits = {
        "train": dataset_ids("raccoon", "train", 8),
        "test": dataset_ids("raccoon", "test", 6),
    }
    return _three_forms(voc_subset(folder, "raccoon", splits), folder)


@pytest.fixture(scope="module")
def voc_mini_forms(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("voc_mini"))
    return _three_forms(shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007"), folder)


def test_the_three_forms_make_the_same_training_batches(raccoon_forms):
    from utils.config import load_anchors
    from utils.data.datasets import open_dataset
    from utils.data.pipeline import build_train_dataset

    batches = {}
    for name, path in raccoon_forms.items():
        samples = open_dataset(path).load("train").samples
        dataset = build_train_dataset(samples, (128, 128), load_anchors(), 1, 4, seed=7)
        batches[name] = [
            (images.numpy(), [t.numpy() for t in targets]) for images, targets in dataset.take(2)
        ]
    for name in ("coco", "yolo"):
        for (images, targets), (voc_images, voc_targets) in zip(batches[name], batches["voc"]):
            np.testing.assert_array_equal(images, voc_images)
            for target, voc_target in zip(targets, voc_targets):
                np.testing.assert_allclose(target, voc_target, atol=1e-5)


def _results(tmp_path, argv):
    out = tmp_path / f"map_{len(os.listdir(tmp_path))}"
    assert get_map.main([*argv, "--metric", "both", "--no-progress", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def _same_results(results):
    first = results[0]
    for other in results[1:]:
        assert other["voc"]["0.5"]["mAP"] == first["voc"]["0.5"]["mAP"]
        assert other["coco"]["stats"] == first["coco"]["stats"]
        assert other["num_ground_truth"] == first["num_ground_truth"]


def test_get_map_gives_identical_results_on_voc_and_coco_and_yolo_lacks_difficult(
    voc_mini_forms, v1_025_weights, tmp_path
):
    model = ["--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", v1_025_weights]
    voc, coco, yolo = (
        _results(tmp_path, ["--data", voc_mini_forms[name], "--split", "test", *model])
        for name in FORMATS
    )
    _same_results([voc, coco])  # COCO keeps VOC's difficult flag as an attribute
    assert voc["voc"]["0.5"]["mAP"] > 0.3 and voc["num_difficult"]["chair"] == 2
    # YOLO txt cannot mark the two difficult chairs: they are gone, the rest is the same.
    assert yolo["num_difficult"]["chair"] == 0
    assert yolo["num_ground_truth"] == voc["num_ground_truth"]


@pytest.mark.slow
def test_train_on_yolo_then_evaluate_on_every_form(raccoon_forms, v1_025_weights, tmp_path, capsys):
    save_dir = tmp_path / "run"
    flags = ["--batch-size", "4", "--freeze-epochs", "0", "--epochs", "2", "--eval-period", "1"]
    proc = subprocess.run(
        [sys.executable, "train.py", *MODEL, *flags, "--data", raccoon_forms["yolo"]]
        + ["--val-split", "test", "--weights", v1_025_weights, "--seed", "0"]
        + ["--save-dir", str(save_dir), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (save_dir / "classes.txt").read_text().split() == ["raccoon"]
    rows = list(csv.DictReader(open(save_dir / "history.csv")))
    assert len(rows) == 2 and all(r["map50"] for r in rows)
    model = [*MODEL, "--weights", str(save_dir / "last.h5")]
    model += ["--classes", str(save_dir / "classes.txt")]
    results = [
        _results(tmp_path, ["--data", path, "--split", "test", *model])
        for path in raccoon_forms.values()
    ]
    # The flag --data replaced still works, with a notice.
    coco_json = os.path.join(raccoon_forms["coco"], "annotations", "instances_test.json")
    deprecated = ["--coco-json", coco_json]
    results.append(_results(tmp_path, [*deprecated, *model]))
    assert "--coco-json is deprecated; use --data" in capsys.readouterr().err
    _same_results(results)
    assert results[0]["voc"]["0.5"]["mAP"] > 0.05


@pytest.mark.parametrize("data_format", FORMATS)
def test_check_convert_and_kmeans_read_every_format(voc_mini_forms, data_format, tmp_path, capsys):
    data = voc_mini_forms[data_format]
    assert check_dataset.main(["--data", data]) == 0
    out = capsys.readouterr().out
    assert "car" in out and "box sizes (" in out
    target = "voc" if data_format != "voc" else "yolo"
    assert convert_dataset.main(["--data", data, "--to", target, "--out", str(tmp_path / "c")]) == 0
    anchors = tmp_path / "anchors.txt"
    argv = ["--data", data, "--num-anchors", "3", "--out", str(anchors)]
    assert kmeans_for_anchors.main(argv) == 0
    assert len(anchors.read_text().split()) == 3  # three 'w,h' pairs
    assert "boxes from 5 images" in capsys.readouterr().out  # each image once


@pytest.mark.slow
@pytest.mark.parametrize("data_format", FORMATS)
def test_train_and_export_read_every_format(
    voc_mini_forms, data_format, v1_025_weights, tmp_path, capsys
):
    data = voc_mini_forms[data_format]
    save_dir = tmp_path / "run"
    flags = ["--epochs", "1", "--freeze-epochs", "0", "--batch-size", "2", "--eval-period", "0"]
    flags += ["--train-split", "trainval", "--val-split", "none", "--seed", "0", "--quiet"]
    argv = [
        *MODEL,
        *flags,
        "--data",
        data,
        "--weights",
        v1_025_weights,
        "--save-dir",
        str(save_dir),
    ]
    assert train.main(argv) == 0
    assert "5 images" in capsys.readouterr().out
    assert (save_dir / "last.h5").is_file()
    out = tmp_path / "exports"
    argv = [*MODEL, "--weights", v1_025_weights, "--format", "onnx", "--data", data]
    assert export.main([*argv, "--split", "test", "--out", str(out), "--no-progress"]) == 0
    assert any(name.endswith(".onnx") for name in os.listdir(out))
