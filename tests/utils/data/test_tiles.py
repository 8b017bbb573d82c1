"""Training tiles: each box mostly inside a tile is cut to it, the rest is dropped, and a tile's
pixels and boxes are those of the image it was cut from."""

import numpy as np
from PIL import Image

from utils.data.samples import Sample
from utils.data.tiles import cut_boxes, tile_samples


def test_a_box_mostly_inside_a_tile_is_kept_cut_to_it_and_the_rest_dropped():
    tile = (100, 100, 300, 300)
    boxes = np.array(
        [
            [120, 120, 180, 180],  # inside
            [250, 150, 330, 190],  # 50/80 of its width inside: kept, clipped at x = 300
            [280, 150, 340, 190],  # 20/60 inside: a remnant, dropped
            [0, 0, 50, 50],  # outside
            [90, 90, 110, 110],  # a quarter inside: dropped
        ],
        np.float32,
    )
    cut, kept = cut_boxes(boxes, tile)
    assert kept.tolist() == [True, True, False, False, False]
    assert cut.tolist() == [[20, 20, 80, 80], [150, 50, 200, 90]]
    assert cut_boxes(boxes, tile, min_visible=0.3)[1].tolist() == [True, True, True, False, False]


def test_tiles_of_a_large_image_hold_its_pixels_and_its_boxes(tmp_path):
    y, x = np.mgrid[0:600, 0:900]  # smooth, as photos are: JPEG keeps it closely
    pixels = np.stack([x * 255 // 900, y * 255 // 600, (x + y) * 255 // 1500], -1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    small = tmp_path / "small.png"
    Image.fromarray(pixels[:200, :200]).save(small)
    boxes = np.array([[10, 10, 60, 60], [500, 300, 560, 380]], np.float32)
    samples = [
        Sample(
            "big", str(tmp_path / "big.png"), 900, 600, boxes, np.array([0, 1]), np.zeros(2, bool)
        ),
        Sample("small", str(small), 200, 200, boxes[:1], np.array([0]), np.zeros(1, bool)),
    ]
    tiles = tile_samples(samples, (320, 320), str(tmp_path / "cache"))
    assert tiles and all(t.image_id.startswith("big_") for t in tiles)  # small fits in one tile
    for tile in tiles:
        _, x, y, _ = tile.image_id.split("_")
        x, y = int(x), int(y)
        image = np.asarray(Image.open(tile.image_path))
        assert image.shape == (320, 320, 3) and (tile.width, tile.height) == (320, 320)
        # JPEG at quality 95: close to the original pixels.
        assert np.abs(image.astype(int) - pixels[y : y + 320, x : x + 320]).mean() < 2
        for box, class_id in zip(tile.boxes, tile.class_ids):  # the box as the tile holds it
            expected = np.clip(boxes[class_id], [x, y, x, y], [x + 320, y + 320] * 2)
            np.testing.assert_allclose(box + [x, y, x, y], expected)
    again = tile_samples(samples, (320, 320), str(tmp_path / "cache"))  # cached: same files
    assert [t.image_path for t in again] == [t.image_path for t in tiles]
