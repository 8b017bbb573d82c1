"""get_map.py end to end: the reference's map_case, the VOC weights on voc_mini, bad input."""

import json
import os

import numpy as np
import pytest

import get_map
from tests.conftest import shared_path


def run_cli(capsys, *argv):
    code = get_map.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def load_results(folder):
    with open(os.path.join(folder, "results.json"), encoding="utf8") as f:
        return json.load(f)


def test_map_case_reproduces_the_reference(capsys, tmp_path):
    case = shared_path("reference", "map_case")
    with open(os.path.join(case, "expected.json"), encoding="utf8") as f:
        expected = json.load(f)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        capsys,
        "--map-out",
        case,
        "--metric",
        "both",
        "--iou",
        "0.5",
        "0.75",
        "--coco-compat",
        "--plots",
        "--out",
        out,
    )
    assert code == 0
    results = load_results(out)
    for key in ("0.5", "0.75"):
        assert results["voc"][key]["mAP"] == pytest.approx(expected["voc"][key]["mAP"], abs=1e-6)
        for name, ap in expected["voc"][key]["AP"].items():
            assert results["voc"][key]["ap"][name] == pytest.approx(ap, abs=1e-4)
    np.testing.assert_allclose(
        results["coco"]["stats"], list(expected["coco"].values()), atol=1e-6, rtol=0
    )
    assert "VOC mAP@0.5 = 39.28%" in stdout and "VOC mAP@0.75 = 13.07%" in stdout
    for name in (
        "results.txt",
        "ap_per_class_iou0.5.png",
        "ap_per_class_iou0.75.png",
        "pr_curves/person.png",
        "coco_eval/instances_gt.json",
    ):
        assert os.path.isfile(os.path.join(out, name)), name
    assert not os.path.exists(out / "ground-truth")  # the input files are named, not copied

    # Without --coco-compat the COCO statistics are pycocotools' own (the original loses
    # annotation id 0); without --plots nothing is drawn.
    code, _, _ = run_cli(
        capsys,
        "--map-out",
        case,
        "--metric",
        "both",
        "--iou",
        "0.5:0.95",
        "--out",
        tmp_path / "again",
    )
    again = load_results(tmp_path / "again")
    assert code == 0 and len(again["voc"]) == 10
    assert again["voc"]["0.5"]["ap"] == results["voc"]["0.5"]["ap"]
    assert again["voc"]["0.75"]["mAP"] == results["voc"]["0.75"]["mAP"]
    assert again["coco"]["stats"][1] > results["coco"]["stats"][1]
    assert sorted(os.listdir(tmp_path / "again")) == ["coco_eval", "results.json", "results.txt"]


@pytest.mark.slow
def test_voc_weights_on_voc_mini_end_to_end(capsys, tmp_path, v1_025_weights):
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    out = tmp_path / "map_out"
    code, stdout, stderr = run_cli(
        capsys,
        "--data",
        root,
        "--split",
        "test",
        "--backbone",
        "mobilenetv1",
        "--alpha",
        "0.25",
        "--weights",
        v1_025_weights,
        "--input-size",
        "320",
        "--metric",
        "both",
        "--score-threshold",
        "0.3",
        "--plots",
        "--out",
        out,
    )
    assert code == 0, stderr
    results = load_results(out)
    assert results["num_images"] == 5
    voc = results["voc"]["0.5"]
    assert set(voc["ap"]) == {"car", "chair", "dog", "person", "sofa", "train"}
    assert 0.3 < voc["mAP"] <= 1.0  # the VOC weights find most of these objects
    assert len(results["coco"]["stats"]) == 12 and 0 < results["coco"]["stats"][1] <= 1
    assert "loaded 157/157" in stderr and "detecting" in stderr  # load report, progress bar
    for image_id in ("000001", "000002", "000003", "000004", "000005"):
        assert os.path.isfile(out / "ground-truth" / f"{image_id}.txt")
        assert os.path.isfile(out / "detection-results" / f"{image_id}.txt")
    pngs = sorted(os.listdir(out / "pr_curves"))
    assert pngs == ["car.png", "chair.png", "dog.png", "person.png", "sofa.png", "train.png"]
    assert os.path.getsize(out / "ap_per_class_iou0.5.png") > 0
    assert "VOC mAP@0.5" in stdout and "AP@[.5:.95]" in (out / "results.txt").read_text()


def test_bad_map_out_is_reported_not_fatal(capsys, tmp_path):
    case = tmp_path / "case"
    (case / "ground-truth").mkdir(parents=True)
    (case / "detection-results").mkdir()
    (case / "ground-truth" / "a.txt").write_text("dog 0 0 9 9\nhorse 5 5 20 20\n")
    (case / "ground-truth" / "b.txt").write_text("dog 0 0 9 9\n")
    (case / "ground-truth" / "c.txt").write_text("")
    (case / "detection-results" / "a.txt").write_text("dog 0.9 0 0 9 9\ndog 0.8 x 0 9 9\n")
    (case / "detection-results" / "c.txt").write_text("dog 0.3 0 0 9 9\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("dog\ncat\n")
    code, stdout, _ = run_cli(
        capsys, "--map-out", case, "--classes", classes, "--out", tmp_path / "out"
    )
    assert code == 0
    assert "detection-results/a.txt:2: score or coordinates are not numbers" in stdout
    assert "1 image has no detection file" in stdout
    assert (
        "1 ground-truth object of classes not in the class list was ignored: 'horse' x1" in stdout
    )
    assert "1 image has no ground-truth object" in stdout
    assert load_results(tmp_path / "out")["voc"]["0.5"]["ap"] == {"dog": pytest.approx(0.5)}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--map-out", "no/such/folder"], "no/such/folder: no such folder"),
        ([], "give one of --data PATH"),
        (["--map-out", ".", "--iou", "1.5"], "--iou: IoU threshold 1.5 is outside"),
        (["--data", "no/such/voc"], "dataset not found: no/such/voc"),
    ],
)
def test_unusable_arguments_exit_with_one_line(capsys, tmp_path, argv, message):
    code, _, stderr = run_cli(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2
    assert stderr.startswith("error: ") and message in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
