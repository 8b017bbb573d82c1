"""Sliced inference: tiles cover the image with the overlap asked for, boxes come back in image
pixels, an object cut by tile borders comes back as one box, and a small real object that the
whole-image pass misses is found."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from utils.inference.base import Detections
from utils.inference.slicing import SlicedDetector, SliceSettings, tile_boxes

RED = (255, 0, 0)


class RedBoxDetector:
    """A detector of one class: the box around the pure red pixels of each image it is given,
    scored higher the more of them it sees (as a real detector is surer of a whole object)."""

    max_boxes = 100

    def __init__(self):
        self.calls = []

    def detect_batch(self, images):
        self.calls.append(len(images))
        found = []
        for image in images:
            red = np.all(np.asarray(image) == RED, axis=-1)
            if not red.any():
                found.append(Detections())
                continue
            ys, xs = np.nonzero(red)
            box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
            score = [min(0.99, 0.5 + red.sum() / 100_000)]
            found.append(
                Detections(
                    np.asarray(box, np.float32),
                    np.asarray(score, np.float32),
                    np.zeros(1, np.int32),
                )
            )
        return found


def _canvas(width, height, red_box):
    image = np.full((height, width, 3), 128, np.uint8)
    x1, y1, x2, y2 = red_box
    image[y1:y2, x1:x2] = RED
    return image


@pytest.mark.parametrize(
    "width, height, tile, overlap",
    [(1000, 700, 256, 0.2), (640, 640, 320, 0.25), (1920, 1080, 512, 0.1)],
)
def test_tiles_cover_the_image_with_the_overlap_asked_for(width, height, tile, overlap):
    tiles = tile_boxes(width, height, SliceSettings((tile, tile), overlap))
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (x2 - x1, y2 - y1) == (tile, tile)
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    for axis in (0, 1):  # neighbours along each axis overlap by at least the share asked for
        starts = sorted(set(tiles[:, axis].tolist()))
        assert all(b - a <= tile * (1 - overlap) + 1 for a, b in zip(starts, starts[1:]))


def test_an_image_that_fits_in_one_tile_is_detected_whole():
    assert len(tile_boxes(300, 200, SliceSettings((320, 320)))) == 0
    detector = RedBoxDetector()
    found = SlicedDetector(detector, SliceSettings((320, 320))).detect(
        _canvas(300, 200, (10, 20, 40, 60))
    )
    assert detector.calls == [1] and found.boxes.tolist() == [[10, 20, 40, 60]]


def test_boxes_of_a_tile_come_back_in_image_pixels_exactly():
    box = (300, 310, 357, 360)  # inside the tile (205, 205, 461, 461) only
    settings = SliceSettings((256, 256), 0.2, "nms", whole_image=False)
    found = SlicedDetector(RedBoxDetector(), settings).detect(_canvas(1000, 700, box))
    assert found.boxes.tolist() == [list(box)]


@pytest.mark.parametrize("merge", ["nms", "greedynmm", "nmm"])
def test_an_object_cut_by_tile_borders_comes_back_as_one_box(merge):
    box = (180, 150, 420, 300)  # crosses tile borders both ways: six tiles see a part of it
    settings = SliceSettings((256, 256), 0.2, merge)
    detector = RedBoxDetector()
    found = SlicedDetector(detector, settings).detect(_canvas(1000, 700, box))
    assert found.boxes.tolist() == [list(box)]
    assert found.scores.tolist() == pytest.approx([0.5 + 240 * 150 / 100_000])  # the whole view
    # The whole image and its 20 tiles went through detect_batch, 16 at a time.
    assert detector.calls == [16, 5]


def test_the_tiles_of_a_batch_of_images_run_together():
    detector = RedBoxDetector()
    images = [_canvas(1000, 700, (10, 10, 50, 50)), _canvas(600, 500, (500, 400, 560, 450))]
    found = SlicedDetector(detector, SliceSettings((256, 256), tile_batch=32)).detect_batch(images)
    tiles = [len(tile_boxes(w, h, SliceSettings((256, 256)))) for w, h in ((1000, 700), (600, 500))]
    assert tiles == [20, 9] and detector.calls == [1 + 20 + 1 + 9]
    assert [d.boxes.tolist() for d in found] == [[[10, 10, 50, 50]], [[500, 400, 560, 450]]]


def test_a_small_real_object_is_found_by_slicing_where_the_whole_image_misses_it(v1_025_weights):
    from utils.data.datasets import open_dataset
    from utils.inference.runtime_detector import load_detector

    voc = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    sample = next(s for s in open_dataset(voc).load("test").samples if s.image_id == "000004")
    x1, y1, x2, y2 = sample.boxes[int(np.argmax(sample.boxes[:, 2] - sample.boxes[:, 0]))]
    car = Image.open(sample.image_path).convert("RGB").crop((int(x1), int(y1), int(x2), int(y2)))
    car = car.resize((64, round(64 * car.height / car.width)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (1600, 1600), (128, 128, 128))
    canvas.paste(car, (900, 700))
    pasted = np.array([900, 700, 900 + car.width, 700 + car.height], np.float32)
    detector = load_detector("mobilenetv1", 0.25, v1_025_weights, conf=0.3)
    car_id = detector.class_names.index("car")

    def cars(found):
        return [b for b, c in zip(found.boxes, found.class_ids) if c == car_id]

    assert cars(detector.detect(canvas)) == []  # 64 pixels become 17 at 416x416
    sliced = cars(SlicedDetector(detector, SliceSettings((416, 416))).detect(canvas))
    assert len(sliced) == 1
    inter = np.maximum(
        0, np.minimum(sliced[0][2:], pasted[2:]) - np.maximum(sliced[0][:2], pasted[:2])
    )
    union = (
        np.prod(pasted[2:] - pasted[:2]) + np.prod(sliced[0][2:] - sliced[0][:2]) - np.prod(inter)
    )
    assert np.prod(inter) / union > 0.7
