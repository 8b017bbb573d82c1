"""The tf.data training and validation pipelines (utils.data.pipeline, utils.data.augment)."""

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from utils.config import load_anchors
from utils.data import Sample, augment, load_voc_split
from utils.data.pipeline import MAX_GT_BOXES, build_train_dataset, build_val_dataset

ANCHORS = load_anchors()
RED = (230, 20, 20)


def make_sample(path, width, height, boxes, class_ids, difficult=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    difficult = np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool)
    return Sample(
        image_id=os.path.splitext(os.path.basename(path))[0],
        image_path=path,
        width=width,
        height=height,
        boxes=boxes,
        class_ids=np.asarray(class_ids, np.int32),
        difficult=difficult,
    )


@pytest.fixture(scope="module")
def raccoon():
    samples, _ = load_voc_split(shared_path("datasets", "raccoon", "VOC2007"), "train", ["raccoon"])
    return samples[:16]


@pytest.fixture(scope="module")
def red_box_samples(tmp_path_factory):
    """Synthetic photos: a textured blue background with one solid red rectangle, its box as
    label."""
    folder = tmp_path_factory.mktemp("red_boxes")
    rng = np.random.default_rng(1)
    samples = []
    for i in range(8):
        h, w = int(rng.integers(150, 400)), int(rng.integers(150, 400))
        image = np.zeros((h, w, 3), np.uint8)
        image[..., 2] = rng.integers(120, 255, (h, w))
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x2, y2 = int(rng.integers(x1 + 40, w)), int(rng.integers(y1 + 40, h))
        image[y1:y2, x1:x2] = RED
        path = str(folder / f"red_{i}.png")
        Image.fromarray(image).save(path)
        samples.append(make_sample(path, w, h, [[x1, y1, x2, y2]], [0]))
    return samples


def is_red(pixels):
    pixels = pixels.astype(int)
    return (pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)


def pixel_boxes(gt, size):
    """Normalised (cx, cy, w, h) rows (non-zero ones) -> [x1, y1, x2, y2] pixels."""
    height, width = size
    gt = gt[gt[:, 2] > 0] * np.array([width, height, width, height])
    return np.concatenate([gt[:, :2] - gt[:, 2:] / 2, gt[:, :2] + gt[:, 2:] / 2], 1)


def assert_boxes_cover_red(image, boxes):
    """Each box is filled with red, and no red lies outside the boxes (2 px tolerance for blur)."""
    inside_any = np.zeros(image.shape[:2], bool)
    red = is_red(image)
    for x1, y1, x2, y2 in boxes:
        ix1, iy1, ix2, iy2 = int(np.ceil(x1)) + 2, int(np.ceil(y1)) + 2, int(x2) - 2, int(y2) - 2
        if ix2 > ix1 and iy2 > iy1:
            assert red[iy1:iy2, ix1:ix2].mean() > 0.97, (x1, y1, x2, y2)
        inside_any[
            max(int(y1) - 2, 0) : int(np.ceil(y2)) + 2, max(int(x1) - 2, 0) : int(np.ceil(x2)) + 2
        ] = True
    assert red[~inside_any].sum() == 0


def take(ds, n):
    return [
        tuple(x.numpy() if not isinstance(x, tuple) else [t.numpy() for t in x] for x in batch)
        for batch in ds.take(n)
    ]


def test_train_batches_have_the_promised_shapes_types_and_ranges(raccoon):
    ds = build_train_dataset(raccoon, (192, 256), ANCHORS, 1, 4, seed=0)
    assert ds.cardinality().numpy() == 4
    batches = take(ds, 2)
    for images, (p5, p4, p3, gt) in batches:
        assert images.dtype == np.float32 and images.shape == (4, 192, 256, 3)
        assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.05
        assert (
            p5.shape == (4, 6, 8, 3, 6)
            and p4.shape == (4, 12, 16, 3, 6)
            and p3.shape == (4, 24, 32, 3, 6)
        )
        assert gt.shape == (4, MAX_GT_BOXES, 4) and gt.dtype == np.float32
        for y in (p5, p4, p3):
            obj = y[..., 4]
            assert set(np.unique(obj)) <= {0.0, 1.0}
            b, row, col, _ = np.nonzero(obj)
            xywh = y[obj > 0][:, :4]  # same (row-major) order as np.nonzero
            assert ((xywh >= 0) & (xywh <= 1)).all()
            # The box centre lies in the cell that holds it.
            np.testing.assert_array_equal(np.floor(xywh[:, 0] * y.shape[2]), col)
            np.testing.assert_array_equal(np.floor(xywh[:, 1] * y.shape[1]), row)
            np.testing.assert_array_equal(y[obj > 0][:, 5], 1.0)
            # Every assigned box is one of the image's ground-truth boxes.
            for k in range(len(b)):
                assert np.isclose(gt[b[k]], xywh[k], atol=1e-6).all(axis=1).any()
        assert (gt[..., 2] > 0).sum() >= sum(int(y[..., 4].sum()) for y in (p5, p4, p3))


def test_seeded_pipeline_repeats_itself_but_varies_between_epochs(raccoon):
    first = take(build_train_dataset(raccoon, (160, 160), ANCHORS, 1, 4, seed=3), 1)[0][0]
    ds = build_train_dataset(raccoon, (160, 160), ANCHORS, 1, 4, seed=3, epochs=2)
    steps = len(raccoon) // 4
    again, next_epoch = take(ds, 1)[0][0], take(ds.skip(steps), 1)[0][0]
    np.testing.assert_array_equal(first, again)  # iterating again repeats
    assert not np.array_equal(first, next_epoch)  # the next epoch reshuffles
    # An epoch is the same whichever epoch the dataset starts from (resume, workers).
    resumed = build_train_dataset(raccoon, (160, 160), ANCHORS, 1, 4, seed=3, first_epoch=1)
    np.testing.assert_array_equal(take(resumed, 1)[0][0], next_epoch)


@pytest.mark.parametrize("cache_mb", [2048, 0])
def test_flipped_and_scaled_boxes_follow_the_image_content(red_box_samples, cache_mb):
    # The cache shrinks the larger photos (long side > 1.5 x 224), so both box scalings are checked.
    ds = build_train_dataset(
        red_box_samples,
        (224, 224),
        ANCHORS,
        1,
        4,
        mosaic=0,
        mixup=0,
        flip=1.0,
        hue=0,
        sat=0,
        val=0,
        seed=5,
        cache_mb=cache_mb,
    )
    seen = 0
    for images, (_, _, _, gt) in take(ds, 2):
        for image, boxes in zip(images, gt):
            boxes = pixel_boxes(boxes, (224, 224))
            assert_boxes_cover_red(np.round(image * 255).astype(np.uint8), boxes)
            seen += len(boxes)
    assert seen >= 6  # most rectangles survive the crop


def test_augment_flip_mirrors_image_and_box():
    image = np.full((100, 200, 3), 128, np.uint8)
    image[10:40, 20:70] = RED
    rng = np.random.default_rng(0)
    out, boxes, _ = augment.random_resize_place(
        image,
        np.array([[20, 10, 70, 40]], np.float32),
        np.array([0]),
        (128, 256),
        rng,
        jitter=0,
        scale_range=(1, 1),
        flip=1.0,
        hue=0,
        sat=0,
        val=0,
    )
    assert boxes[0, 0] > 128  # a box on the left moved to the right half
    assert_boxes_cover_red(out, boxes)


def test_mosaic_and_mixup_keep_boxes_inside_and_on_their_content(red_box_samples):
    ds = build_train_dataset(
        red_box_samples, (256, 256), ANCHORS, 1, 4, mosaic=1.0, mixup=0, hue=0, sat=0, val=0, seed=2
    )
    counts = []
    for images, (_, _, _, gt) in take(ds, 2):
        for image, boxes in zip(images, gt):
            boxes = pixel_boxes(boxes, (256, 256))
            assert_boxes_cover_red(np.round(image * 255).astype(np.uint8), boxes)
            counts.append(len(boxes))
    assert max(counts) >= 2  # pieces of several photos in one image
    ds = build_train_dataset(
        red_box_samples, (256, 256), ANCHORS, 1, 4, mosaic=1.0, mixup=1.0, seed=2
    )
    for _, (p5, p4, p3, gt) in take(ds, 2):
        boxes = gt[gt[..., 2] > 0]
        corners = np.concatenate(
            [boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1
        )
        assert (corners >= -1e-6).all() and (corners <= 1 + 1e-6).all()
        assert (boxes[:, 2:] * 256 > 1).all()


def test_hsv_jitter_applies_the_reference_gains():
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    out = augment.hsv_jitter(image, np.random.default_rng(7), 0.1, 0.7, 0.4)
    gains = np.random.default_rng(7).uniform(-1, 1, 3) * [0.1, 0.7, 0.4] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256)
    expected = cv2.merge(
        [
            cv2.LUT(hue, ((x * gains[0]) % 180).astype(np.uint8)),
            cv2.LUT(sat, np.clip(x * gains[1], 0, 255).astype(np.uint8)),
            cv2.LUT(val, np.clip(x * gains[2], 0, 255).astype(np.uint8)),
        ]
    )
    np.testing.assert_array_equal(out, cv2.cvtColor(expected, cv2.COLOR_HSV2RGB))
    np.testing.assert_array_equal(
        augment.hsv_jitter(image, np.random.default_rng(7), 0, 0, 0), image
    )


def test_images_without_objects_give_empty_targets(tmp_path):
    samples = []
    for i in range(4):
        path = str(tmp_path / f"empty_{i}.jpg")
        Image.fromarray(np.full((90, 120, 3), 40 * i, np.uint8)).save(path)
        samples.append(make_sample(path, 120, 90, np.zeros((0, 4)), []))
    images, targets = take(
        build_train_dataset(samples, (128, 128), ANCHORS, 1, 4, mosaic=1.0, seed=0), 1
    )[0]
    assert images.shape == (4, 128, 128, 3) and all(not t.any() for t in targets)


def flat_colour_samples(folder, n=8):
    """Photos each filled with one distinct flat colour, one box each."""
    samples = []
    for i in range(n):
        colour = [(60 + 50 * i) % 256, (200 - 23 * i) % 256, (30 * i) % 256]
        path = str(folder / f"flat_{i}.png")
        Image.fromarray(np.full((120, 160, 3), colour, np.uint8)).save(path)
        samples.append(make_sample(path, 160, 120, [[10, 10, 150, 110]], [0]))
    return samples


def dominant_colours(image):
    """Number of distinct non-grey colours covering at least 2% of the image."""
    pixels = np.round(image * 255).astype(np.uint8).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    keep = (counts >= 0.02 * len(pixels)) & ~(colours == 128).all(axis=1)
    return int(keep.sum())


def test_mosaic_stops_exactly_at_the_switch_off_epoch(tmp_path):
    # 8 images, batch 4: epochs 0 and 1 are batches 0-1 and 2-3. The whole dataset is read in
    # one go, so the pipeline runs ahead across the epoch boundary, as it does in training.
    ds = build_train_dataset(
        flat_colour_samples(tmp_path),
        (160, 160),
        ANCHORS,
        1,
        4,
        mosaic=1.0,
        mixup=0,
        hue=0,
        sat=0,
        val=0,
        seed=1,
        epochs=2,
        aug_off_epoch=1,
    )
    colours = [[dominant_colours(im) for im in images] for images, _ in take(ds, 4)]
    assert min(min(batch) for batch in colours[:2]) >= 2  # every example a mosaic
    assert max(max(batch) for batch in colours[2:]) == 1  # none


def test_a_dataset_starting_after_the_switch_off_has_no_mosaic(tmp_path):
    ds = build_train_dataset(
        flat_colour_samples(tmp_path),
        (160, 160),
        ANCHORS,
        1,
        4,
        mosaic=1.0,
        hue=0,
        sat=0,
        val=0,
        seed=1,
        first_epoch=3,
        aug_off_epoch=3,
    )
    assert max(dominant_colours(im) for images, _ in take(ds, 2) for im in images) == 1


@pytest.mark.parametrize("cache_mb", [2048, 0])
def test_corrupt_image_is_skipped_with_a_message(raccoon, capsys, cache_mb):
    broken = shared_path(
        "datasets", "voc_mini", "VOCdevkit", "VOC2012", "JPEGImages", "2007_000027.jpg"
    )
    samples = raccoon[:7] + [make_sample(broken, 486, 500, [[174, 101, 349, 351]], [0])]
    ds = build_train_dataset(
        samples, (160, 160), ANCHORS, 1, 4, mosaic=0.5, seed=0, cache_mb=cache_mb
    )
    assert ds.image_store.cached == bool(cache_mb)
    for _ in range(2):  # two epochs, every batch there
        assert len(take(ds, -1)) == 2
    err = capsys.readouterr().err
    assert err.count("2007_000027.jpg") == 1 and "skipping image" in err

    val = build_val_dataset(samples, (160, 160), ANCHORS, 1, 3)
    assert val.cardinality().numpy() == 3  # known up front: Keras needs no guessing
    images = np.concatenate([b[0] for b in take(val, -1)])
    assert len(images) == 7
    assert "2007_000027.jpg" in capsys.readouterr().err


def test_val_dataset_is_the_reference_letterbox():
    street = shared_path("reference", "street.jpg")
    expected = np.asarray(
        Image.open(shared_path("reference", "street_letterbox_416.png")).convert("RGB")
    )
    boxes = [[100, 200, 500, 900], [600, 50, 1300, 300]]
    ds = build_val_dataset(
        [make_sample(street, 1330, 1330, boxes, [1, 0])], (416, 416), ANCHORS, 2, 1
    )
    images, (_, _, _, gt) = take(ds, -1)[0]
    np.testing.assert_array_equal(np.round(images[0] * 255).astype(np.uint8), expected)
    # Boxes move with the letterbox (the photo is square: scale 416/1330, no offset).
    x1, y1, x2, y2 = np.array(boxes[0]) * 416 / 1330
    np.testing.assert_allclose(
        gt[0, 0],
        [(x1 + x2) / 2 / 416, (y1 + y2) / 2 / 416, (x2 - x1) / 416, (y2 - y1) / 416],
        rtol=1e-3,
    )


def test_val_dataset_keeps_order_and_partial_last_batch(raccoon):
    ds = build_val_dataset(raccoon[:5], (160, 160), ANCHORS, 1, 2)
    batches = take(ds, -1)
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    image = cv2.cvtColor(cv2.imread(raccoon[4].image_path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(
        np.round(batches[2][0][0] * 255).astype(np.uint8), augment.letterbox(image, (160, 160))
    )


def test_too_few_images_for_a_batch_is_a_clear_error(raccoon):
    with pytest.raises(ValueError, match="fewer than one batch"):
        build_train_dataset(raccoon[:3], (160, 160), ANCHORS, 1, 4)


def test_multi_scale_batches_come_in_several_sizes_each_with_its_own_targets(raccoon):
    from utils.data.pipeline import multi_scale_sizes

    sizes = multi_scale_sizes((160, 160))
    assert sizes == [(128, 128), (160, 160), (192, 192)]

    def shapes():
        ds = build_train_dataset(raccoon, (160, 160), ANCHORS, 1, 2, seed=5, sizes=sizes, epochs=2)
        found = []
        for images, (p5, p4, p3, gt) in take(ds, 16):
            h, w = images.shape[1:3]
            assert (h, w) in sizes and images.shape[0] == 2  # one size per batch
            assert p5.shape[1:3] == (h // 32, w // 32) and p3.shape[1:3] == (h // 8, w // 8)
            assert np.all((gt[..., :2] >= 0) & (gt[..., :2] <= 1))  # normalised at any size
            assert p5[..., 4].sum() + p4[..., 4].sum() + p3[..., 4].sum() > 0
            found.append((h, w))
        return found

    first = shapes()
    assert len(set(first)) == len(sizes)  # 16 steps draw every size
    assert shapes() == first  # a pure function of the seed, as every other choice


def test_an_epoch_size_draws_that_many_samples_afresh_each_epoch(raccoon):
    import dataclasses

    # Sample i's objects are of class i, so a batch's targets say which samples it holds.
    marked = [
        dataclasses.replace(s, class_ids=np.full(len(s.class_ids), i, np.int32))
        for i, s in enumerate(raccoon)
    ]
    ds = build_train_dataset(
        marked, (128, 128), ANCHORS, 16, 4, seed=2, epochs=3, epoch_size=8, mosaic=0, mixup=0
    )
    assert ds.cardinality().numpy() == 6  # 2 steps an epoch instead of 4
    drawn = []
    for epoch in range(3):
        seen = set()
        for _, targets in take(ds.skip(2 * epoch), 2):
            for level in targets[:3]:
                seen |= set(np.nonzero(level[..., 5:].sum(axis=(0, 1, 2, 3)))[0].tolist())
        drawn.append(seen)
    assert all(len(seen) <= 8 for seen in drawn) and len(set.union(*drawn)) > 8
    assert drawn[0] != drawn[1]  # each epoch another draw
