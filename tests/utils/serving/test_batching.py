"""The batcher and the app in process (no socket): runs hold one set of thresholds, each result
equals detect() on its image alone, and nothing is served before warm-up ends."""

import asyncio
import time

import httpx
import numpy as np
import pytest

from tests.conftest import shared_path
from utils.data.images import load_image
from utils.serving.batcher import DynamicBatcher, Thresholds


@pytest.fixture(scope="module")
def detector():
    from utils.inference.runtime_detector import load_detector

    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    return load_detector("mobilenetv1", 0.25, weights, input_size="160", conf=0.1)


@pytest.fixture(scope="module")
def images():
    folder = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007", "JPEGImages")
    street = load_image(shared_path("reference", "street.jpg"))
    return [load_image(f"{folder}/00000{i}.jpg") for i in range(1, 6)] + [street]


def alone(detector, image, thresholds):
    detector.conf, detector.nms_iou, detector.max_boxes = (
        thresholds.conf,
        thresholds.nms_iou,
        thresholds.max_boxes,
    )
    return detector.detect(image)


def started(detector, max_batch, max_wait_s, runs):
    """A warmed-up batcher that appends each run's size to ``runs``."""
    batcher = DynamicBatcher(
        detector, max_batch, max_wait_s, Thresholds(0.1, 0.3, 100), lambda n, s: runs.append(n)
    )
    batcher.start()
    assert batcher.ready.wait(60) and batcher.warm_up_seconds is not None
    return batcher


def test_runs_hold_one_set_of_thresholds_and_match_detect_alone(detector, images):
    loose, strict = Thresholds(0.05, 0.3, 100), Thresholds(0.3, 0.5, 10)
    wanted = [loose if i % 2 == 0 else strict for i in range(len(images))]
    expected = [alone(detector, image, t) for image, t in zip(images, wanted)]
    runs = []
    batcher = started(detector, 8, 0.3, runs)
    prepared = [detector.preprocess(image, threads=1) for image in images]
    for _ in images:
        batcher.expect()  # six requests on their way: runs wait for them
    futures = [batcher.submit(c, t, th, expected=True) for (c, t, _), th in zip(prepared, wanted)]
    results = [f.result(timeout=60) for f in futures]
    batcher.stop()
    assert runs == [3, 3]  # six requests, two threshold sets, one run each
    for result, want in zip(results, expected):
        assert result.batch_size == 3
        got = result.detections
        np.testing.assert_array_equal(got.class_ids, want.class_ids)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=0.05)
    assert sum(len(r.detections) for r in results) > 6


def test_a_cancelled_request_is_not_run(detector, images):
    runs = []
    batcher = started(detector, 4, 0.2, runs)
    canvas, transform, _ = detector.preprocess(images[0], threads=1)
    batcher.expect()
    batcher.expect()
    dropped = batcher.submit(canvas, transform, Thresholds(0.1, 0.3, 100), expected=True)
    kept = batcher.submit(canvas, transform, Thresholds(0.1, 0.3, 100), expected=True)
    assert dropped.cancel()  # its request timed out while it waited
    kept.result(timeout=30)
    batcher.stop()
    assert runs == [1]


def test_a_lone_request_runs_at_once_and_a_failed_one_stops_the_wait(detector, images):
    runs = []
    batcher = started(detector, 8, 30.0, runs)
    canvas, transform, _ = detector.preprocess(images[0], threads=1)
    start = time.perf_counter()
    batcher.submit(canvas, transform, Thresholds(0.1, 0.3, 100)).result(timeout=30)
    batcher.expect()
    batcher.expect()
    waiting = batcher.submit(canvas, transform, Thresholds(0.1, 0.3, 100), expected=True)
    time.sleep(0.2)
    assert not waiting.done()  # one more is on its way
    batcher.not_coming()  # ...until it failed
    waiting.result(timeout=30)
    batcher.stop()
    assert runs == [1, 1] and time.perf_counter() - start < 10  # never the 30 s wait


def test_nothing_is_served_before_warm_up(detector):
    from utils.serving.app import create_app
    from utils.serving.service import Service
    from utils.serving.settings import ServeSettings

    service = Service(detector, ServeSettings(max_batch=2))
    app = create_app(service)  # not started: the worker has not warmed up
    street = open(shared_path("reference", "street.jpg"), "rb").read()

    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/readyz")
            detect = await client.post("/v1/detect", content=street)
            alive = await client.get("/healthz")
            service.start()
            for _ in range(600):
                if service.ready:
                    break
                await asyncio.sleep(0.1)
            after = await client.get("/readyz")
            answer = await client.post("/v1/detect", content=street)
            service.stop()
            return ready, detect, alive, after, answer

    start = time.perf_counter()
    ready, detect, alive, after, answer = asyncio.run(ask())
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert detect.status_code == 503 and "warming up" in detect.json()["error"]
    assert detect.headers["retry-after"] == "1"
    assert alive.status_code == 200
    assert after.status_code == 200 and after.json()["warmed_batch_sizes"] == [1, 2]
    assert answer.status_code == 200 and answer.json()["width"] == 1330
    assert time.perf_counter() - start < 120
