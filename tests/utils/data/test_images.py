"""Image loading turns every kind of file into displayed-orientation RGB, or fails clearly."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from utils.data.images import (
    PARALLEL_RESIZE_MIN_PIXELS,
    ImageLoadError,
    as_pil_rgb,
    is_image_file,
    letterbox_geometry,
    letterbox_image,
    load_image,
    resize_bicubic,
    resize_image,
)


@pytest.fixture(scope="module")
def street():
    return Image.open(shared_path("reference", "street.jpg")).convert("RGB")


def test_letterbox_reproduces_reference_canvas_exactly(street):
    reference = np.asarray(
        Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB")
    )
    canvas = np.asarray(
        letterbox_image(load_image(shared_path("reference", "street.jpg")), (416, 416))
    )
    assert canvas.shape == (416, 416, 3)
    np.testing.assert_array_equal(canvas, reference)


def test_threaded_letterbox_reproduces_reference_canvas_exactly():
    reference = np.asarray(
        Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB")
    )
    image = load_image(shared_path("reference", "street.jpg"))
    assert image.size[0] * image.size[1] >= PARALLEL_RESIZE_MIN_PIXELS  # the threaded path
    for threads in (2, 3):
        np.testing.assert_array_equal(
            np.asarray(letterbox_image(image, (416, 416), threads=threads)), reference
        )


@pytest.mark.parametrize(
    "source_size, size",
    [
        ((1330, 1330), (416, 416)),  # both dimensions shrink
        ((1920, 1088), (416, 235)),  # a wide video frame
        ((700, 1100), (265, 416)),  # a tall photo
        ((900, 600), (1400, 900)),  # both grow
        ((1000, 800), (1000, 320)),  # only the height changes
        ((1000, 800), (333, 800)),  # only the width changes
        ((1001, 999), (417, 415)),  # odd sizes: uneven bands
    ],
)
def test_threaded_resize_gives_pillows_pixels(street, source_size, size):
    image = street.resize(source_size)  # real photo content, at the size under test
    if image.size[0] * image.size[1] < PARALLEL_RESIZE_MIN_PIXELS:
        pytest.fail("the case must be large enough to take the threaded path")
    want = np.asarray(image.resize(size, Image.BICUBIC))
    for threads in (2, 4):
        got = np.asarray(resize_bicubic(image, size, threads))
        np.testing.assert_array_equal(got, want)
    gray = image.convert("L")
    np.testing.assert_array_equal(
        np.asarray(resize_bicubic(gray, size, 2)), np.asarray(gray.resize(size, Image.BICUBIC))
    )


def test_letterbox_pads_grey_around_a_wide_image():
    image = Image.new("RGB", (400, 100), (255, 0, 0))
    canvas = np.asarray(letterbox_image(image, (320, 320)))
    nw, nh, left, top = letterbox_geometry((400, 100), (320, 320))
    assert (nw, nh, left, top) == (320, 80, 0, 120)
    assert (canvas[:top] == 128).all() and (canvas[top + nh :] == 128).all()
    assert (canvas[top + 2 : top + nh - 2, :, 0] > 250).all()


def test_plain_resize_ignores_aspect_ratio(street):
    assert resize_image(street, (320, 416)).size == (416, 320)


def test_grayscale_rgba_palette_and_cmyk_become_rgb(tmp_path, street):
    small = street.resize((160, 160))
    files = {
        "gray.png": small.convert("L"),
        "rgba.png": small.convert("RGBA"),
        "palette.png": small.convert("P", palette=Image.ADAPTIVE),
        "cmyk.jpg": small.convert("CMYK"),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
        loaded = load_image(tmp_path / name)
        assert loaded.mode == "RGB" and loaded.size == (160, 160), name
        # Content survives the conversion: close to the original colours (grey for L).
        target = np.asarray(
            small.convert("L").convert("RGB") if name == "gray.png" else small, np.float32
        )
        assert np.abs(np.asarray(loaded, np.float32) - target).mean() < 12, name


def test_transparent_pixels_are_shown_on_white(tmp_path):
    image = Image.new("RGBA", (8, 8), (10, 20, 30, 0))
    image.putpixel((0, 0), (10, 20, 30, 255))
    image.save(tmp_path / "alpha.png")
    loaded = np.asarray(load_image(tmp_path / "alpha.png"))
    assert tuple(loaded[0, 0]) == (10, 20, 30) and tuple(loaded[4, 4]) == (255, 255, 255)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    loaded = np.asarray(load_image(tmp_path / "deep.png"))
    assert loaded[0, :, 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_applied(tmp_path, street):
    # Store the pixels rotated and let EXIF say "rotate 90 CW to display" (orientation 6).
    upright = street.resize((200, 120))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "rotated.jpg")
    assert loaded.size == (200, 120)
    assert np.abs(np.asarray(loaded, np.float32) - np.asarray(upright, np.float32)).mean() < 6


def test_truncated_jpeg_fails_with_its_name():
    path = shared_path(
        "datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages", "2007_000027.jpg"
    )
    with pytest.raises(ImageLoadError, match="2007_000027.jpg.*truncated"):
        load_image(path)


@pytest.mark.parametrize(
    "content,expected",
    [(None, "no such file"), (b"not an image\n", "not an image"), ("dir", "folder")],
)
def test_bad_files_raise_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "x.jpg"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert expected in message and "x.jpg" in message and "\n" not in message


def test_arrays_and_extensions():
    array = np.zeros((5, 7, 3), np.uint8)
    assert as_pil_rgb(array).size == (7, 5)
    with pytest.raises(ImageLoadError):
        as_pil_rgb(np.zeros((5, 7, 3), np.float32))
    assert is_image_file("a/B.JPG") and not is_image_file("clip.mp4")


# ----------------------------------------------------------------------------- lazily opened
# Image.open(path) decodes nothing until the pixels are first read; two threads reading such an
# image at once (the threaded resize) used to fail with "image file is truncated".


def test_threaded_letterbox_of_a_lazily_opened_image():
    reference = np.asarray(
        Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB")
    )
    lazy = Image.open(shared_path("reference", "street.jpg"))
    assert lazy.tile  # not decoded yet
    np.testing.assert_array_equal(
        np.asarray(letterbox_image(lazy, (416, 416), threads=4)), reference
    )


def test_lazily_opened_grey_image_takes_the_threaded_resize(tmp_path, street):
    street.convert("L").save(tmp_path / "grey.png")
    lazy = Image.open(tmp_path / "grey.png")
    assert lazy.mode == "L" and lazy.tile
    loaded = Image.open(tmp_path / "grey.png")
    loaded.load()
    np.testing.assert_array_equal(
        np.asarray(resize_bicubic(lazy, (416, 416), threads=4)),
        np.asarray(loaded.resize((416, 416), Image.BICUBIC)),
    )


def test_lazily_opened_truncated_image_is_a_load_error():
    lazy = Image.open(
        shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages", "2007_000027.jpg")
    )
    with pytest.raises(ImageLoadError, match="2007_000027.jpg.*truncated"):
        as_pil_rgb(lazy)


@pytest.fixture(scope="module")
def detector():
    from utils.inference.detector import Detector

    return Detector.from_options(
        "mobilenetv1",
        0.25,
        shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
        "model_data/voc_classes.txt",
    )


@pytest.mark.parametrize("kind", ["jpeg", "palette png", "grey png"])
def test_detect_on_a_lazily_opened_image(detector, tmp_path, street, kind):
    """What a user writes: detector.detect(Image.open(path)), with the image not decoded."""
    if kind == "jpeg":
        path = shared_path("reference", "street.jpg")
    else:
        path = tmp_path / "street.png"
        if kind == "palette png":
            street.convert("P", palette=Image.ADAPTIVE).save(path)
        else:
            street.convert("L").save(path)
    lazy = Image.open(path)
    assert lazy.tile and lazy.size[0] * lazy.size[1] >= PARALLEL_RESIZE_MIN_PIXELS
    loaded = Image.open(path)
    loaded.load()
    # The threaded preprocessing gives the same canvas as the decoded image's.
    canvas, _, _ = detector.preprocess(Image.open(path), threads=4)
    np.testing.assert_array_equal(canvas, detector.preprocess(loaded, threads=1)[0])
    got, expected = detector.detect(lazy), detector.detect(loaded)
    assert len(expected.scores) > 0
    np.testing.assert_array_equal(got.class_ids, expected.class_ids)
    np.testing.assert_allclose(got.boxes, expected.boxes, atol=1e-3)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-5)
    # Two images at once (one thread each), the same lazily opened object twice included.
    twice = Image.open(path)
    for detections in detector.detect_batch([twice, twice]):
        np.testing.assert_array_equal(detections.class_ids, expected.class_ids)
