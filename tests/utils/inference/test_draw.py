"""Drawn results: coloured labelled boxes, readable fonts, crops and heat maps."""

import numpy as np
from PIL import Image, ImageFont

from utils.inference.detector import Detections
from utils.inference.draw import (
    class_colors,
    count_by_class,
    crop_detections,
    draw_detections,
    label_font,
    save_heatmap,
)

NAMES = ["cat", "dog", "person"]


def detections():
    return Detections(
        np.array([[10, 20, 60, 90], [-5, 50, 300, 400]], np.float32),
        np.array([0.9, 0.6], np.float32),
        np.array([2, 0], np.int32),
    )


def test_colors_are_distinct_per_class():
    colors = class_colors(20)
    assert len(set(colors)) == 20


def test_font_is_a_real_truetype_font():
    font = label_font(20)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert "DejaVu" in font.getname()[0]


def test_the_font_is_found_without_importing_matplotlib():
    """Importing matplotlib's font manager took 0.2 s of predict.py's start-up."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys; from utils.inference.draw import label_font; font = label_font(20); "
        "print(font.getname()[0], 'matplotlib' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["DejaVu", "Sans", "False"], done.stdout + done.stderr


def test_boxes_and_labels_are_drawn_in_class_colours():
    image = Image.new("RGB", (200, 150), (0, 0, 0))
    drawn = np.asarray(draw_detections(image, detections(), NAMES))
    person = class_colors(3)[2]
    assert tuple(drawn[55, 10]) == person  # left edge of the person box
    assert (np.asarray(image) == 0).all()  # the input is not modified
    assert (drawn != 0).any(axis=-1).sum() > 500  # label backgrounds were filled


def label_height(width, height):
    """Rows of the filled label drawn above a box that sits in the image's middle."""
    box = np.array([[width * 0.3, height * 0.5, width * 0.7, height * 0.9]], np.float32)
    found = Detections(box, np.array([0.9], np.float32), np.array([2], np.int32))
    drawn = np.asarray(draw_detections(Image.new("RGB", (width, height)), found, NAMES))
    column = drawn[: int(height * 0.5), int(width * 0.3)]  # the label fill's left edge
    return int((column == class_colors(3)[2]).all(axis=-1).sum())


def test_labels_scale_with_the_image_and_stay_readable():
    small, large = label_height(120, 90), label_height(1600, 1200)
    assert small >= 11  # never below a readable size
    assert large >= 2.5 * small  # and about 3% of the height on big images


def test_crops_are_clipped_to_the_image():
    image = Image.new("RGB", (200, 150))
    crops = crop_detections(image, detections())
    assert crops[0].size == (50, 70) and crops[1].size == (200, 100)


def test_heatmap_png(tmp_path):
    image = Image.new("RGB", (64, 48), (128, 128, 128))
    heat = np.zeros((48, 64), np.float32)
    heat[10:20, 10:20] = 1.0
    path = save_heatmap(image, heat, str(tmp_path / "h.png"))
    saved = Image.open(path)
    assert saved.format == "PNG"
    pixels = np.asarray(saved.convert("RGB")).reshape(-1, 3).astype(int)
    # The jet colour map over grey: the hot square is tinted red, the cold rest blue.
    red_minus_blue = pixels[:, 0] - pixels[:, 2]
    assert (red_minus_blue > 40).sum() > 0 and (red_minus_blue < -40).sum() > (
        red_minus_blue > 40
    ).sum()


def test_count_by_class():
    assert count_by_class(detections(), NAMES) == {"cat": 1, "person": 1}
