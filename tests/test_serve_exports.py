"""serve.py over exported models: a .tflite service answers like predict.py on the same file and
never imports TensorFlow; an export with NMS in its graph refuses thresholds it cannot apply."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path
from tests.serving import ServiceProcess, assert_same_detections, detect

pytestmark = pytest.mark.slow  # exports two files (about 20 s)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    base = [sys.executable, os.path.join(ROOT, "export.py"), "--backbone", "mobilenetv1"]
    base += ["--alpha", "0.25", "--weights", weights, "--input-size", "320", "--format", "tflite"]
    for extra in ([], ["--nms"]):
        subprocess.run(
            base + ["--out", str(out), *extra], check=True, cwd=ROOT, capture_output=True
        )
    files = sorted(os.listdir(out))
    raw = next(f for f in files if f.endswith(".tflite") and "_nms" not in f)
    nms = next(f for f in files if f.endswith("_nms.tflite"))
    return {"raw": str(out / raw), "nms": str(out / nms)}


def test_a_tflite_service_never_imports_tensorflow(exports):
    """What serve.py runs, up to the listening socket, in a fresh interpreter."""
    code = f"""
import sys
import serve
args = serve.build_parser().parse_args(["--weights", {exports["raw"]!r}])
key = serve.check_args(args)
from utils.inference.runtime_detector import load_detector_for_args
from utils.serving.app import create_app
from utils.serving.service import Service
from utils.serving.settings import ServeSettings
service = Service(load_detector_for_args(args), ServeSettings.from_args(args, key))
create_app(service, key)
import uvicorn, utils.serving.server
service.start()
service.batcher.ready.wait(60)
assert service.ready
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print("loaded:", loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout


def test_tflite_answers_equal_predict_on_the_same_file(exports, tmp_path):
    street = shared_path("reference", "street.jpg")
    out = tmp_path / "p.json"
    command = [sys.executable, os.path.join(ROOT, "predict.py"), "--weights", exports["raw"]]
    # Both decode every pixel (predict.py draws on the photo; the service is told to).
    command += ["--source", street, "--json", str(out), "--conf", "0.25", "--quiet"]
    command += ["--preprocess", "exact"]
    subprocess.run(command + ["--save-dir", str(tmp_path / "d")], check=True, cwd=ROOT)
    expected = json.load(open(out))["images"][0]["detections"]
    with (
        ServiceProcess(
            ["--weights", exports["raw"], "--preprocess", "exact", "--quiet"]
        ) as service,
        service.client() as client,
    ):
        model = client.get("/v1/model").json()
        assert (model["format"], model["quantization"]) == ("tflite", "float32")
        answer = detect(client, street, conf=0.25).json()
    assert len(expected) >= 4
    assert_same_detections(answer["detections"], expected)


def test_nms_in_the_graph_answers_other_thresholds_with_400(exports):
    street = shared_path("reference", "street.jpg")
    with (
        ServiceProcess(["--weights", exports["nms"], "--quiet"]) as service,
        service.client() as client,
    ):
        assert client.get("/v1/model").json()["nms_in_graph"] is True
        default = detect(client, street)
        assert default.status_code == 200 and default.json()["detections"]
        stricter = detect(client, street, conf=0.8, max_boxes=2)
        assert stricter.status_code == 200
        kept = stricter.json()["detections"]
        assert len(kept) <= 2 and all(d["score"] >= 0.8 for d in kept)
        for params in ({"conf": 0.2}, {"nms_iou": 0.6}, {"max_boxes": 500}):
            refused = detect(client, street, **params)
            assert refused.status_code == 400, refused.text
            assert "--no-nms" in refused.json()["error"]
