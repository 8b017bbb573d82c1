"""--slice in the tools: predict.py over a folder in batches and get_map.py over a split run
sliced, say so, and keep their outputs whole."""

import json

import get_map
import predict
from tests.conftest import shared_path

V1_025 = ["--backbone", "mobilenetv1", "--alpha", "0.25"]


def test_predict_slices_a_folder_in_batches(v1_025_weights, tmp_path, capsys):
    folder = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages")
    argv = [*V1_025, "--weights", v1_025_weights, "--source", folder, "--slice", "256"]
    argv += ["--batch-size", "4", "--json", str(tmp_path / "r.json"), "--save-dir", str(tmp_path)]
    assert predict.main(argv) == 0
    out = capsys.readouterr()
    assert "sliced: 256x256 tiles, overlap 0.2, nms merge" in out.out + out.err
    records = json.load(open(tmp_path / "r.json"))["images"]
    assert len(records) == 5 and sum(len(r["detections"]) for r in records) > 5
    for record in records:  # merged boxes, clipped to their image as always
        for found in record["detections"]:
            x1, y1, x2, y2 = found["box"]
            assert 0 <= x1 < x2 <= record["width"] and 0 <= y1 < y2 <= record["height"]


def test_get_map_evaluates_sliced_detections(v1_025_weights, tmp_path, capsys):
    data = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    argv = [*V1_025, "--weights", v1_025_weights, "--data", data, "--no-progress"]
    assert (
        get_map.main([*argv, "--slice", "320", "--slice-merge", "nms", "--out", str(tmp_path)]) == 0
    )
    out = capsys.readouterr()
    assert "sliced: 320x320 tiles, overlap 0.2, nms merge" in out.err
    assert "VOC mAP@0.5 by object size" in out.out
    results = json.load(open(tmp_path / "results.json"))
    assert results["voc"]["0.5"]["mAP"] > 0.3 and results["voc_sizes"]["medium"]["num_gt"] > 0
