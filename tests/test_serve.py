"""serve.py as a user runs it: a real process on a free loopback port, the real VOC weights
(mobilenetv1-0.25 at 320), real images from ../shared, real HTTP."""

import concurrent.futures
import glob
import io
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from PIL import Image

from tests.conftest import ROOT, shared_path
from tests.serving import ServiceProcess, assert_same_detections, detect

SIZE = "320"


def model_flags():
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    return ["--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", weights]


@pytest.fixture(scope="module")
def service():
    flags = model_flags() + ["--input-size", SIZE, "--max-batch", "8", "--max-wait-ms", "30"]
    flags += ["--max-upload-mb", "1", "--max-pixels", "2000000", "--quiet"]
    with ServiceProcess(flags) as process:
        yield process


def predict_json(tmp_path, image, *flags):
    out = tmp_path / "predict.json"
    command = [sys.executable, os.path.join(ROOT, "predict.py"), *model_flags()]
    command += ["--input-size", SIZE, "--source", image, "--json", str(out), *flags]
    command += ["--save-dir", str(tmp_path / "drawn"), "--quiet"]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return json.load(open(out))["images"][0]


def test_detections_equal_predict_json(service, tmp_path):
    # An image the fast mode decodes in full, as predict.py (which draws on it) always does; a
    # larger JPEG the service decodes at reduced scale (the concurrency test below).
    image = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages", "000004.jpg")
    expected = predict_json(tmp_path, image, "--conf", "0.3", "--nms-iou", "0.4")
    with service.client() as client:
        for raw in (False, True):
            answer = detect(client, image, raw=raw, conf=0.3, nms_iou=0.4)
            assert answer.status_code == 200, answer.text
            record = answer.json()
            assert (record["width"], record["height"]) == (expected["width"], expected["height"])
            assert len(record["detections"]) >= 4
            assert_same_detections(record["detections"], expected["detections"], f"raw={raw}")
            assert record["file"] == (None if raw else "000004.jpg")
            assert set(record["timing"]) >= {"queue_ms", "model_ms", "total_ms", "batch_size"}
        # Thresholds and the class filter are the request's own.
        for names in ("car", "person,bus"):
            only = detect(client, image, conf=0.3, nms_iou=0.4, classes=names).json()
            wanted = [d for d in record["detections"] if d["class"] in names.split(",")]
            assert only["detections"] == wanted
            assert len(wanted) == (5 if names == "car" else 0)
        strict = detect(client, image, conf=0.9).json()["detections"]
        assert strict and all(d["score"] >= 0.9 for d in strict)
        assert len(strict) < len(record["detections"])


def test_64_concurrent_requests_each_get_their_own_result(service):
    """Different images and two threshold sets at once: every answer equals detect() on its
    image alone with its thresholds (large JPEGs decoded at reduced scale by both), and
    requests were batched."""
    from utils.data.images import ReducedImage
    from utils.inference.runtime_detector import load_detector

    images = sorted(glob.glob(shared_path("datasets", "raccoon", "VOC2007", "JPEGImages") + "/*"))
    images = images[:55] + sorted(
        glob.glob(shared_path("datasets", "voc_mini") + "/*/*/JPEGImages/*")
    )
    images = [p for p in images if "2007_000027" not in p][:64]  # that one is truncated
    assert len(images) == 64
    settings = [{"conf": 0.05, "nms_iou": 0.3}, {"conf": 0.2, "nms_iou": 0.5}]
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    expected, reduced = {}, 0
    for i, setting in enumerate(settings):
        detector = load_detector("mobilenetv1", 0.25, weights, input_size=SIZE, **setting)
        for path in images[i::2]:
            image = detector.load(path)
            reduced += isinstance(image, ReducedImage)
            expected[path] = detector.detect(image)
    assert reduced >= 3, reduced

    with service.client() as client, concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = {
            pool.submit(detect, client, path, False, **settings[i % 2]): path
            for i, path in enumerate(images)
        }
        answers = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}
    from utils.inference.base import detections_to_dicts

    names = load_detector("mobilenetv1", 0.25, weights, input_size=SIZE).class_names
    batch_sizes = []
    for path, answer in answers.items():
        assert answer.status_code == 200, answer.text
        record = answer.json()
        width, height = Image.open(path).size
        want = detections_to_dicts(expected[path], names, width, height)
        assert_same_detections(record["detections"], want, os.path.basename(path))
        batch_sizes.append(record["timing"]["batch_size"])
    assert sum(len(a.json()["detections"]) for a in answers.values()) > 100
    assert max(batch_sizes) > 1, batch_sizes  # gathered into shared runs


def truncated_jpeg():
    return shared_path(
        "datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages", "2007_000027.jpg"
    )


def big_png(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, "PNG")
    return buffer.getvalue()


def test_bad_uploads_are_json_errors_and_the_service_keeps_serving(service):
    street = shared_path("reference", "street.jpg")
    cases = {
        "empty": (b"", 400, "empty"),
        "garbage": (b"this is not an image" * 50, 400, "not an image"),
        "truncated": (open(truncated_jpeg(), "rb").read(), 400, "truncated"),
        "too many bytes": (os.urandom(1_500_000), 413, "--max-upload-mb"),
        "too many pixels": (big_png(2000, 1200), 413, "megapixels"),
    }
    with service.client() as client:
        for name, (data, status, words) in cases.items():
            for files in (None, {"image": ("x.jpg", data, "image/jpeg")}):
                answer = client.post(
                    "/v1/detect", content=data if files is None else None, files=files
                )
                assert answer.status_code == status, (name, answer.text)
                assert words in answer.json()["error"], (name, answer.json())
        bad_requests = [
            ({"conf": "2"}, "conf"),
            ({"conf": "high"}, "conf"),
            ({"max_boxes": "0"}, "max_boxes"),
            ({"classes": "unicorn"}, "unicorn"),
        ]
        for params, words in bad_requests:
            answer = detect(client, street, **params)
            assert answer.status_code == 400 and words in answer.json()["error"], answer.text
        no_file = client.post("/v1/detect", data={"conf": "0.3"}, files={"other": ("", b"")})
        assert no_file.status_code == 400, no_file.text
        assert detect(client, street).status_code == 200
        assert client.get("/healthz").json() == {"alive": True}


def test_metrics_parse_and_count_the_requests_sent(service):
    from prometheus_client.parser import text_string_to_metric_families

    def counts(client):
        families = text_string_to_metric_families(client.get("/metrics").text)
        samples = {}
        for family in families:
            for sample in family.samples:
                if sample.name == "yolo_requests_total":
                    samples[sample.labels["path"], sample.labels["status"]] = sample.value
                elif sample.name in ("yolo_batch_size_count", "yolo_queue_depth"):
                    samples[sample.name] = sample.value
        return samples

    street = shared_path("reference", "street.jpg")
    with service.client() as client:
        before = counts(client)
        for _ in range(3):
            assert detect(client, street).status_code == 200
        for _ in range(2):
            assert client.post("/v1/detect", content=b"").status_code == 400
        assert client.get("/v1/model").status_code == 200
        after = counts(client)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta[("/v1/detect", "200")] == 3
    assert delta[("/v1/detect", "400")] == 2
    assert delta[("/v1/model", "200")] == 1
    assert delta[("/metrics", "200")] == 1  # the first scrape, counted once it was answered
    assert delta["yolo_batch_size_count"] == 3  # each lone request ran as a batch of one
    assert after["yolo_queue_depth"] == 0


def test_model_page_docs_and_readiness(service):
    with service.client() as client:
        model = client.get("/v1/model").json()
        assert model["backbone"] == "mobilenetv1" and model["alpha"] == 0.25
        assert model["input_size"] == [320, 320] and model["format"] == "keras"
        assert model["num_classes"] == 20 and model["classes"][14] == "person"
        assert model["quantization"] == "float32" and model["nms_in_graph"] is False
        ready = client.get("/readyz").json()
        assert ready["ready"] and ready["warmed_batch_sizes"] == list(range(1, 9))
        assert "/v1/detect" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and "/page/app.js" in page.text
        assert client.get("/page/app.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/page/../serve.py").status_code == 404


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory):
    """street.jpg at 4000x4000 (16 megapixels): a quarter of a second to decode and letterbox,
    so requests are reliably in flight together."""
    path = tmp_path_factory.mktemp("big") / "street_16mp.jpg"
    Image.open(shared_path("reference", "street.jpg")).resize((4000, 4000)).save(path, quality=90)
    return str(path)


def send_together(client, path, count):
    """``count`` uploads of ``path`` started at the same moment, from ``count`` threads."""
    barrier = threading.Barrier(count)

    def send(_):
        barrier.wait()
        return detect(client, path)

    pool = concurrent.futures.ThreadPoolExecutor(count)
    return pool, [pool.submit(send, i) for i in range(count)]


@pytest.mark.slow  # a service of its own (about 10 s)
def test_a_full_queue_answers_503_then_recovers(big_photo):
    """With room for 2, the rest of 12 uploads sent at once get 503; then the service serves,
    and a lone request does not wait --max-wait-ms for company that is not coming."""
    flags = model_flags() + ["--input-size", "128", "--max-queue", "2", "--max-wait-ms", "3000"]
    with ServiceProcess(flags + ["--quiet"]) as service, service.client() as client:
        pool, futures = send_together(client, big_photo, 12)
        answers = [f.result() for f in futures]
        pool.shutdown()
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(503) >= 8 and statuses.count(200) >= 1, statuses
        full = next(a for a in answers if a.status_code == 503)
        assert full.headers["retry-after"] == "1" and "--max-queue" in full.json()["error"]
        alone = detect(client, shared_path("reference", "street.jpg"))
        assert alone.status_code == 200  # recovered
        assert alone.json()["timing"]["queue_ms"] < 1000, alone.json()["timing"]


@pytest.mark.slow  # a service of its own (about 10 s)
def test_a_request_without_a_result_in_time_gets_504(big_photo):
    flags = model_flags() + ["--input-size", "128", "--request-timeout", "0.02", "--quiet"]
    with ServiceProcess(flags) as service, service.client() as client:
        answer = detect(client, big_photo)
        assert answer.status_code == 504 and "--request-timeout" in answer.json()["error"]
        assert client.get("/healthz").status_code == 200


@pytest.mark.slow  # a service of its own (about 10 s)
def test_sigterm_under_load_lets_every_request_finish(big_photo):
    # Exact pre-processing decodes every pixel, so 16 large photos keep two cores busy.
    flags = model_flags() + ["--input-size", "128", "--max-batch", "4", "--preprocess", "exact"]
    service = ServiceProcess(flags).start()
    with service.client() as client:
        pool, futures = send_together(client, big_photo, 16)
        time.sleep(0.5)  # all connected; two cores decode 16 large photos for seconds
        in_flight = sum(not f.done() for f in futures)
        status = service.stop()
        answers = [f.result() for f in futures]
        pool.shutdown()
    assert in_flight >= 8, in_flight
    assert [a.status_code for a in answers] == [200] * 16
    assert status == 0, service.output
    assert "stopped" in service.output
    with pytest.raises(httpx.TransportError):
        httpx.get(service.url + "/healthz", timeout=2)


@pytest.mark.slow  # a service of its own (about 10 s)
def test_a_non_loopback_service_needs_its_key():
    street = shared_path("reference", "street.jpg")
    flags = model_flags() + ["--input-size", "128", "--host", "0.0.0.0", "--quiet"]
    env = {"YOLO_LITE_API_KEY": "s3cret-key"}
    service = ServiceProcess(flags, env=env)
    with service:
        assert "API key is required" in service.output
        url = service.url.replace("0.0.0.0", "127.0.0.1")
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/healthz").status_code == 200
            for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cret"}):
                answer = client.post(
                    "/v1/detect", content=open(street, "rb").read(), headers=headers
                )
                assert answer.status_code == 401 and "API key" in answer.json()["error"]
            assert client.get("/metrics").status_code == 401
            for headers in ({"X-API-Key": "s3cret-key"}, {"Authorization": "Bearer s3cret-key"}):
                answer = client.post(
                    "/v1/detect", content=open(street, "rb").read(), headers=headers
                )
                assert answer.status_code == 200, answer.text
