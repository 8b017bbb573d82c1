"""The two pre-processing modes: exact is the reference's letterbox pixel for pixel; fast decodes
large JPEGs at reduced scale and box-reduces very large images, and keeps mAP within the rule."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from utils.data.images import ReducedImage, decode_image_bytes, load_image
from utils.inference.preprocess import to_canvas

STREET = ("reference", "street.jpg")
VOC_MINI = ("datasets", "voc_mini", "VOCdevkit")


def test_exact_mode_is_the_reference_letterbox():
    street = load_image(shared_path(*STREET))
    canvas, size = to_canvas(street, (416, 416), True, "exact")
    reference = Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB")
    assert size == (1330, 1330)
    np.testing.assert_array_equal(canvas, np.asarray(reference))


def test_a_large_jpeg_is_decoded_at_reduced_scale_for_a_small_input():
    path = shared_path(*STREET)
    reduced = load_image(path, reduce_for=((416, 416), True))
    assert isinstance(reduced, ReducedImage) and reduced.full_size == (1330, 1330)
    assert reduced.image.size == (665, 665)  # 1/2: a quarter would be under 416
    small = load_image(path, reduce_for=((160, 160), True))
    assert small.image.size == (167, 167)  # 1/8
    # An input as large as the image needs every pixel: decoded in full, a plain image.
    assert isinstance(load_image(path, reduce_for=((1280, 1280), True)), Image.Image)
    # Bytes (uploads) decode the same way.
    with open(path, "rb") as f:
        upload = decode_image_bytes(f.read(), reduce_for=((416, 416), True))
    assert upload.full_size == (1330, 1330) and upload.image.size == (665, 665)


def test_the_reduced_canvas_is_laid_out_as_the_full_one(tmp_path):
    """A reduced decode lands in the canvas where the full image does, near the same pixels."""
    street = load_image(shared_path(*STREET))
    wide = street.resize((1330, 700))
    path = tmp_path / "wide.jpg"
    wide.save(path, quality=95)
    full = load_image(path)
    exact, size = to_canvas(full, (416, 416), True, "exact")
    fast, fast_size = to_canvas(load_image(path, reduce_for=((416, 416), True)), (416, 416),
                                True, "fast")  # fmt: skip
    assert size == fast_size == (1330, 700)
    # The padding rows, exactly where they were: the same rows all grey in both.
    grey_rows = np.all(exact == 128, axis=(1, 2))
    assert grey_rows[:95].all() and grey_rows[-95:].all() and not grey_rows[120:300].any()
    np.testing.assert_array_equal(grey_rows, np.all(fast == 128, axis=(1, 2)))
    assert np.abs(fast.astype(int) - exact).mean() < 3.0


def test_exif_rotation_and_other_formats(tmp_path):
    """A quarter-turned JPEG reports its displayed full size; PNGs and small JPEGs are decoded
    in full."""
    street = load_image(shared_path(*STREET)).resize((1600, 800))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed turned a quarter: 800 wide, 1600 high
    turned = tmp_path / "turned.jpg"
    street.save(turned, exif=exif, quality=95)
    reduced = load_image(turned, reduce_for=((320, 320), True))
    assert reduced.full_size == (800, 1600) and reduced.image.size == (200, 400)
    stored = load_image(turned, apply_exif=False, reduce_for=((320, 320), True))
    assert stored.full_size == (1600, 800) and stored.image.size == (400, 200)
    png = tmp_path / "street.png"
    street.save(png)
    assert isinstance(load_image(png, reduce_for=((320, 320), True)), Image.Image)
    buffer = io.BytesIO()
    street.resize((400, 200)).save(buffer, "JPEG")
    assert isinstance(decode_image_bytes(buffer.getvalue(), reduce_for=((320, 320), True)),
                      Image.Image)  # fmt: skip


def test_a_very_large_frame_is_box_reduced_before_the_bicubic_resize():
    """A 1080p video frame (an array, nothing to decode) at 320: reduced by 2 first, then the
    same bicubic resize; the canvas stays within a few grey levels of the exact one."""
    street = np.asarray(load_image(shared_path(*STREET)).resize((1920, 1080)))
    exact, _ = to_canvas(street, (320, 320), True, "exact")
    fast, size = to_canvas(street, (320, 320), True, "fast")
    assert size == (1920, 1080) and fast.shape == exact.shape == (320, 320, 3)
    assert 0 < np.abs(fast.astype(int) - exact).mean() < 2.0
    plain, _ = to_canvas(street, (320, 320), False, "fast")
    assert plain.shape == (320, 320, 3) and not np.all(plain[:40] == 128)


@pytest.fixture(scope="module")
def voc_detector():
    from utils.inference.runtime_detector import load_detector
    from utils.options import detection_defaults

    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    return load_detector("mobilenetv1", 0.25, weights, **detection_defaults("eval"))


@pytest.mark.parametrize("year", ["VOC2007", "VOC2012"])
def test_fast_mode_keeps_voc_mini_map_within_the_rule(voc_detector, year):
    """The rule that made fast the default: mAP@0.5 moves by under 0.2 points."""
    from utils.data.datasets import open_dataset
    from utils.evaluation.evaluate import evaluate_detector

    samples = open_dataset(os.path.join(shared_path(*VOC_MINI), year), None).load(
        "test", voc_detector.class_names, progress=False
    )
    scores = {}
    for mode in ("exact", "fast"):
        voc_detector.preprocess_mode = mode
        results = evaluate_detector(
            voc_detector, samples.samples, voc_detector.class_names, progress=False, plots=False
        )
        scores[mode] = results["voc"]["0.5"]["mAP"]
    voc_detector.preprocess_mode = "fast"
    assert scores["exact"] > 0.5
    assert abs(scores["fast"] - scores["exact"]) < 0.002, scores


def test_the_flag_reaches_the_detector():
    from utils.inference.runtime_detector import load_detector_for_args
    from utils.options import default

    assert default("preprocess") == "fast"
    import predict

    args = predict.build_parser().parse_args(
        ["--weights", shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
         "--backbone", "mobilenetv1", "--alpha", "0.25", "--preprocess", "exact"]
    )  # fmt: skip
    args.input_size = 160
    detector = load_detector_for_args(args)
    assert detector.preprocess_mode == "exact" and detector.reduce_for is None
    detector.preprocess_mode = "fast"
    assert detector.reduce_for == ((160, 160), True)
