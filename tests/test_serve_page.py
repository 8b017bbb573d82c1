"""The service's page in a real headless browser (Debian's chromium driven by Playwright):
upload street.jpg, and the boxes drawn and the JSON shown are the API's answer."""

import json
import os

import pytest

from tests.conftest import shared_path
from tests.serving import ServiceProcess, assert_same_detections, detect

CHROMIUM = "/usr/bin/chromium"
# Chromium without its background connections: this machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A synthetic camera (a moving test pattern), allowed without asking.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def service():
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    flags = ["--backbone", "mobilenetv1", "--alpha", "0.25", "--weights", weights]
    with ServiceProcess(flags + ["--input-size", "320", "--quiet"]) as process:
        yield process


def drawn_boxes(page):
    return page.eval_on_selector_all(
        "#overlay rect.box",
        """rects => rects.map(r => ({
            class: r.dataset.class, score: Number(r.dataset.score),
            box: ['x', 'y', 'width', 'height'].map(k => Number(r.getAttribute(k)))}))""",
    )


def answered(page, count):
    page.wait_for_function(
        f"Number(document.body.dataset.answered || 0) >= {count}", timeout=60_000
    )


def test_upload_draws_the_apis_answer(browser, service):
    street = shared_path("reference", "street.jpg")
    page = browser.new_page()
    page.goto(service.url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('mobilenetv1')")
    assert page.input_value("#conf") == "0.5"  # the service's default, from /v1/model
    page.set_input_files("#file", street)
    answered(page, 1)
    with service.client() as client:
        api = detect(client, street, conf=0.5).json()
    shown = json.loads(page.text_content("#json"))
    assert_same_detections(shown["detections"], api["detections"])
    assert (shown["width"], shown["height"]) == (api["width"], api["height"])
    drawn = drawn_boxes(page)
    assert len(drawn) == len(api["detections"]) >= 4
    for box, detection in zip(drawn, api["detections"]):
        x1, y1, x2, y2 = detection["box"]
        assert box["class"] == detection["class"]
        assert abs(box["score"] - detection["score"]) < 1e-4
        assert max(abs(a - b) for a, b in zip(box["box"], [x1, y1, x2 - x1, y2 - y1])) < 0.05
    labels = page.eval_on_selector_all("#overlay text.label", "t => t.map(e => e.textContent)")
    assert labels[0] == f"{api['detections'][0]['class']} {api['detections'][0]['score']:.2f}"
    # The overlay covers the image as shown: the drawn boxes sit on the photo.
    photo = page.locator("#photo").bounding_box()
    overlay = page.locator("#overlay").bounding_box()
    assert all(abs(photo[k] - overlay[k]) < 1 for k in ("x", "y", "width", "height"))

    # The slider asks again: fewer boxes at a higher confidence, still the API's.
    page.fill("#conf", "0.9")  # a range input: fill sets its value and fires 'input'
    answered(page, 2)
    with service.client() as client:
        strict = detect(client, street, conf=0.9).json()
    assert len(drawn_boxes(page)) == len(strict["detections"]) < len(api["detections"])
    page.close()


def test_an_error_is_shown_not_drawn(browser, service, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not an image at all")
    page = browser.new_page()
    page.goto(service.url + "/")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "400" in page.text_content("#status") and "not an image" in page.text_content("#status")
    assert drawn_boxes(page) == []
    page.close()


def test_the_webcam_sends_frame_after_frame(browser, service):
    page = browser.new_page()
    page.goto(service.url + "/")
    page.click("#webcam")  # shown where the browser has getUserMedia
    answered(page, 3)  # each frame is sent when the previous one is answered
    shown = json.loads(page.text_content("#json"))
    video = page.eval_on_selector("#video", "v => [v.videoWidth, v.videoHeight]")
    assert shown["file"] == "webcam.jpg" and [shown["width"], shown["height"]] == video
    assert page.text_content("#webcam") == "Stop the webcam"
    page.click("#webcam")
    page.close()
