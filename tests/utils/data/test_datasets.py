"""Dataset readers: real VOC folders read with every problem reported per file, never a crash."""

import json
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from utils.config import load_class_names
from utils.data import (
    DatasetError,
    ImageProblem,
    image_size,
    list_voc_class_names,
    load_coco_json,
    load_voc_folder,
    load_voc_split,
    make_voc_splits,
    resolve_voc_root,
    training_boxes,
    write_voc_splits,
)

HELMET_CLASSES = ["helmet", "head"]


def _kinds(report):
    return dict(report.problem_kinds)


def _problems_of(report, file):
    return [message for f, message in report.problems if f == file]


# --------------------------------------------------------------------------- real data


def test_raccoon_splits_read_cleanly_with_real_sizes():
    root = shared_path("datasets", "raccoon", "VOC2007")
    train, train_report = load_voc_split(root, "train", ["raccoon"])
    test, test_report = load_voc_split(root, "test", ["raccoon"])
    assert (len(train), len(test)) == (160, 40)
    assert train_report.problems == [] and test_report.problems == []
    assert not {s.image_id for s in train} & {s.image_id for s in test}
    for sample in train[:20]:
        assert os.path.isabs(sample.image_path) and os.path.isfile(sample.image_path)
        with Image.open(sample.image_path) as image:
            assert (sample.width, sample.height) == image.size
        assert sample.boxes.dtype == np.float32 and sample.boxes.shape == (len(sample.class_ids), 4)
        assert sample.class_ids.dtype == np.int32 and sample.difficult.dtype == bool
        assert 1 <= len(sample.boxes) <= 3
        assert np.all(sample.boxes[:, 2:] > sample.boxes[:, :2])
        assert np.all(sample.boxes[:, 2] <= sample.width) and np.all(
            sample.boxes[:, 3] <= sample.height
        )
    assert train_report.class_counts == {"raccoon": sum(len(s.boxes) for s in train)}


def test_helmet_real_problems_are_each_reported_and_none_stops_the_run():
    root = shared_path("datasets", "helmet", "VOC2007")
    start = time.perf_counter()
    samples, report = load_voc_folder(root, HELMET_CLASSES)
    seconds = time.perf_counter() - start
    assert len(samples) == 999 and report.num_skipped == 0
    assert seconds < 15, f"reading and checking 999 images took {seconds:.1f}s"

    # The annotations whose <filename> names the XML itself, found independently of the reader.
    self_named = set()
    for name in os.listdir(os.path.join(root, "Annotations")):
        text = open(os.path.join(root, "Annotations", name), encoding="utf8").read()
        if re.search(r"<filename>\s*" + re.escape(name) + r"\s*</filename>", text):
            self_named.add(name)
    assert len(self_named) == 278
    mismatched = {f for f, m in report.problems if "<filename>" in m}
    assert mismatched == self_named
    by_id = {s.image_id: s for s in samples}
    assert by_id["000001"].image_path.endswith(os.path.join("JPEGImages", "000001.jpg"))

    # Declared sizes that are wrong: the image's real size wins.
    assert any("1920x1088" in m and "1731x1088" in m for m in _problems_of(report, "000102.xml"))
    assert any("1280x720" in m and "1280x614" in m for m in _problems_of(report, "000121.xml"))
    assert (by_id["000102"].width, by_id["000102"].height) == (1731, 1088)
    assert (by_id["000121"].width, by_id["000121"].height) == (1280, 614)
    assert _kinds(report)["size mismatch"] == 2

    # Two degenerate boxes in the data (a point at 1,1 and one on the image corner) are dropped.
    assert _kinds(report)["box dropped"] == 2
    assert _problems_of(report, "000057.xml") and _problems_of(report, "000574.xml")
    assert report.class_counts == {"helmet": 2439 - 1, "head": 2072 - 1}
    assert report.difficult_counts == {"helmet": 2, "head": 0}
    assert sum(len(s.boxes) for s in samples) == report.num_objects == 4509
    assert sum(len(training_boxes(s)[0]) for s in samples) == 4509 - 2

    summary = report.format(max_problems=8)
    assert (
        "helmet" in summary
        and "2438" in summary
        and "000102.xml" in summary
        and "000574.xml" in summary
    )


def test_helmet_split_files_partition_the_dataset():
    root = shared_path("datasets", "helmet", "VOC2007")
    train, _ = load_voc_split(root, "train", HELMET_CLASSES, check_images=False)
    test, report = load_voc_split(root, "test", HELMET_CLASSES, check_images=False)
    assert (len(train), len(test)) == (800, 199)
    assert sum(report.class_counts.values()) == sum(len(s.boxes) for s in test)


def test_voc_mini_difficult_objects_are_kept_but_not_training_targets():
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2007")
    classes = load_class_names()
    samples, report = load_voc_split(root, "trainval", classes)
    assert report.problems == []
    sample = {s.image_id: s for s in samples}["000005"]
    chair = classes.index("chair")
    assert int(sample.difficult.sum()) == 2 and set(
        sample.class_ids[sample.difficult].tolist()
    ) == {chair}
    boxes, class_ids = training_boxes(sample)
    assert len(boxes) == len(sample.boxes) - 2
    assert class_ids.tolist() == sample.class_ids[~sample.difficult].tolist()
    assert not np.any(np.all(boxes == sample.boxes[sample.difficult][0], 1))
    assert report.difficult_counts["chair"] == 2
    # Boxes are read as given (VOC pixel coordinates), e.g. 000001's dog.
    first = {s.image_id: s for s in samples}["000001"]
    np.testing.assert_array_equal(first.boxes[0], [48, 240, 195, 371])


def test_voc_mini_truncated_jpeg_is_reported_by_name_and_skipped():
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2012")
    samples, report = load_voc_split(root, "trainval", load_class_names())
    assert len(samples) == 4 and report.num_skipped == 1
    assert "2007_000027" not in {s.image_id for s in samples}
    (message,) = _problems_of(report, "2007_000027.xml")
    assert "2007_000027.jpg" in message and "truncated" in message
    with pytest.raises(ImageProblem, match="truncated"):
        image_size(os.path.join(root, "JPEGImages", "2007_000027.jpg"))
    # Without the check only the header is read, so the size still comes back.
    assert image_size(os.path.join(root, "JPEGImages", "2007_000027.jpg"), check=False)[0] > 0


def test_resolve_voc_root_finds_the_single_voc_folder():
    raccoon = shared_path("datasets", "raccoon")
    assert resolve_voc_root(raccoon) == os.path.join(raccoon, "VOC2007")
    with pytest.raises(DatasetError, match="VOC2007, VOC2012"):
        resolve_voc_root(shared_path("datasets", "voc_mini", "VOCdevkit"))
    assert list_voc_class_names(os.path.join(raccoon, "VOC2007")) == ["raccoon"]
    samples, _ = load_voc_split(raccoon, "test", ["raccoon"], check_images=False)
    assert len(samples) == 40 and os.sep + "VOC2007" + os.sep in samples[0].image_path


# --------------------------------------------------------------------------- synthetic broken data


def _xml(filename, size, objects):
    parts = [f"<annotation><filename>{filename}</filename>"]
    if size:
        parts.append(
            f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
        )
    for name, box, *rest in objects:
        coords = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
        difficult = rest[0] if rest else 0
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult}</difficult>"
            f"<bndbox>{coords}</bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def _make_voc(root, entries):
    """entries: {stem: (xml text or None, image (w, h) or None, image extension)}."""
    for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for stem, (xml, image, ext) in entries.items():
        if xml is not None:
            with open(os.path.join(root, "Annotations", stem + ".xml"), "w") as f:
                f.write(xml)
        if image is not None:
            Image.new("RGB", image, (90, 120, 150)).save(
                os.path.join(root, "JPEGImages", stem + ext)
            )
    return str(root)


@pytest.fixture
def broken_voc(tmp_path):
    return _make_voc(
        tmp_path / "VOC2007",
        {
            "good": (
                _xml(
                    "good.jpg",
                    (64, 48),
                    [("cat", ("10.5", "4", "30", "40.25")), ("dog", (1, 1, 20, 20), 1)],
                ),
                (64, 48),
                ".jpg",
            ),
            "badxml": ("<annotation><object><name>cat</name>", (64, 48), ".jpg"),
            "noimage": (_xml("noimage.jpg", (64, 48), [("cat", (1, 1, 5, 5))]), None, ".jpg"),
            "outside": (
                _xml(
                    "outside.jpg", (64, 48), [("cat", (-5, 10, 70, 40)), ("dog", (70, 10, 90, 40))]
                ),
                (64, 48),
                ".jpg",
            ),
            "zeroarea": (
                _xml(
                    "zeroarea.jpg", (64, 48), [("cat", (10, 10, 10, 30)), ("dog", (5, 5, 15, 15))]
                ),
                (64, 48),
                ".jpg",
            ),
            "unknown": (
                _xml(
                    "unknown.jpg",
                    (64, 48),
                    [("zebra", (1, 1, 9, 9)), ("zebra", (2, 2, 9, 9)), ("cat", (1, 1, 9, 9))],
                ),
                (64, 48),
                ".jpg",
            ),
            "empty": (
                _xml("empty", (64, 48), []),
                (64, 48),
                ".jpg",
            ),  # <filename> without extension is fine
            "winpath": (
                _xml(r"C:\labels\winpath.jpg", (64, 48), [("cat", (1, 2, 3, 4))]),
                (64, 48),
                ".jpg",
            ),
            "pngfile": (_xml("pngfile.jpg", (64, 48), [("dog", (3, 3, 30, 30))]), (32, 40), ".png"),
            "badcoord": (
                _xml("badcoord.jpg", None, [("cat", ("x", 1, 5, 5)), ("dog", (1, 1, 5, 5))]),
                (64, 48),
                ".jpg",
            ),
        },
    )


def test_every_broken_file_is_reported_and_the_rest_is_read(broken_voc):
    samples, report = load_voc_folder(broken_voc, ["cat", "dog"])
    by_id = {s.image_id: s for s in samples}
    assert set(by_id) == {
        "good",
        "outside",
        "zeroarea",
        "unknown",
        "empty",
        "winpath",
        "pngfile",
        "badcoord",
    }
    assert report.num_skipped == 2 and report.num_images == 8
    assert _problems_of(report, "winpath.xml") == []

    good = by_id["good"]
    np.testing.assert_allclose(good.boxes, [[10.5, 4, 30, 40.25], [1, 1, 20, 20]])
    assert good.class_ids.tolist() == [0, 1] and good.difficult.tolist() == [False, True]
    assert _problems_of(report, "good.xml") == []

    assert "cannot parse XML" in _problems_of(report, "badxml.xml")[0]
    assert "image not found" in _problems_of(report, "noimage.xml")[0]

    outside = by_id["outside"]
    np.testing.assert_allclose(
        outside.boxes, [[0, 10, 64, 40]]
    )  # clipped; the other is off the image
    messages = _problems_of(report, "outside.xml")
    assert any("clipped" in m for m in messages) and any("dropped" in m for m in messages)

    assert by_id["zeroarea"].class_ids.tolist() == [1]
    assert any("empty or inverted" in m for m in _problems_of(report, "zeroarea.xml"))
    assert any("no area inside the 64x48 image" in m for m in _problems_of(report, "outside.xml"))

    assert by_id["unknown"].class_ids.tolist() == [0]
    assert (
        report.unknown_classes == {"zebra": 2} and report.unknown_examples["zebra"] == "unknown.xml"
    )

    empty = by_id["empty"]
    assert empty.boxes.shape == (0, 4) and empty.class_ids.shape == (0,)
    assert _problems_of(report, "empty.xml") == ["no objects; kept as a background image"]

    png = by_id["pngfile"]
    assert png.image_path.endswith("pngfile.png") and (png.width, png.height) == (32, 40)
    assert any("<filename>" in m for m in _problems_of(report, "pngfile.xml"))
    assert any("declared size 64x48" in m for m in _problems_of(report, "pngfile.xml"))

    assert by_id["badcoord"].class_ids.tolist() == [1]
    assert any("non-numeric" in m for m in _problems_of(report, "badcoord.xml"))

    assert report.class_counts == {"cat": 4, "dog": 4} and report.difficult_counts == {
        "cat": 0,
        "dog": 1,
    }
    files = [f for f, _ in report.problems]
    assert files == sorted(
        files, key=lambda f: sorted(by_id.keys() | {"badxml", "noimage"}).index(f[:-4])
    )
    text = report.format()
    assert "zebra" in text and "badxml.xml" in text and "noimage.xml" in text


def test_image_named_only_by_filename_is_found(tmp_path):
    xml = _xml("photo.jpg", (20, 20), [("cat", (1, 1, 9, 9))])
    root = _make_voc(tmp_path / "voc", {"a1": (xml, None, "")})
    Image.new("RGB", (20, 20)).save(os.path.join(root, "JPEGImages", "photo.jpg"))
    samples, report = load_voc_folder(root, ["cat"])
    assert samples[0].image_id == "a1" and samples[0].image_path.endswith("photo.jpg")
    assert "using <filename>" in report.problems[0][1]


def test_truncation_check_on_jpeg_and_png(tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8))
    jpeg, png = tmp_path / "x.jpg", tmp_path / "x.png"
    image.save(jpeg, quality=90)
    image.save(png)
    assert image_size(str(jpeg)) == (160, 120) and image_size(str(png)) == (160, 120)
    data = jpeg.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageProblem, match="truncated"):
        image_size(str(tmp_path / "cut.jpg"))
    # Junk after the end marker is legal; more of it than the tail searched needs the full decode.
    (tmp_path / "junk.jpg").write_bytes(data + b"\0" * 100_000)
    assert image_size(str(tmp_path / "junk.jpg")) == (160, 120)
    cut_png = png.read_bytes()
    (tmp_path / "cut.png").write_bytes(cut_png[: len(cut_png) - 40])
    with pytest.raises(ImageProblem):
        image_size(str(tmp_path / "cut.png"))
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageProblem, match="not an image"):
        image_size(str(tmp_path / "text.jpg"))


def test_missing_folder_or_split_file_raises_a_clear_error(tmp_path, broken_voc):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_voc_folder(str(tmp_path / "nowhere"), ["cat"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Annotations"):
        load_voc_split(str(tmp_path / "empty"), "train", ["cat"])
    with pytest.raises(DatasetError, match="train.txt"):
        load_voc_split(broken_voc, "train", ["cat"])


def test_split_ids_listed_without_annotation_or_twice_are_reported(broken_voc):
    with open(os.path.join(broken_voc, "ImageSets", "Main", "train.txt"), "w") as f:
        f.write("good\nghost\ngood\n\n")
    samples, report = load_voc_split(broken_voc, "train", ["cat", "dog"])
    assert [s.image_id for s in samples] == ["good"]
    assert "annotation file not found" in _problems_of(report, "ghost.xml")[0]
    assert "more than once" in _problems_of(report, "train.txt")[0]


# --------------------------------------------------------------------------- splits


def test_split_writing_is_seeded_complete_and_never_overwrites(tmp_path):
    root = _make_voc(
        tmp_path / "voc", {f"{i:03d}": (_xml("", None, []), None, "") for i in range(50)}
    )
    splits = write_voc_splits(root, 0.8, 0.75, seed=1)
    assert {k: len(v) for k, v in splits.items()} == {
        "trainval": 40,
        "train": 30,
        "val": 10,
        "test": 10,
    }
    assert sorted(splits["train"] + splits["val"]) == splits["trainval"]
    assert sorted(splits["trainval"] + splits["test"]) == [f"{i:03d}" for i in range(50)]
    with open(os.path.join(root, "ImageSets", "Main", "val.txt")) as f:
        assert f.read().split() == splits["val"]
    assert make_voc_splits(splits["trainval"] + splits["test"], 0.8, 0.75, seed=1) == splits
    ids = splits["trainval"]
    assert make_voc_splits(ids, 0.8, 0.75, seed=2) != make_voc_splits(ids, 0.8, 0.75, seed=1)
    # Existing split files are kept; overwrite draws a new split.
    assert write_voc_splits(root, 0.5, 0.5, seed=9) == splits
    assert (
        write_voc_splits(root, 0.5, 0.5, seed=9, overwrite=True)["trainval"] != splits["trainval"]
    )
    assert not [
        n for n in os.listdir(os.path.join(root, "ImageSets", "Main")) if n.startswith(".tmp")
    ]


# --------------------------------------------------------------------------- COCO


@pytest.fixture
def coco_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name, size in (("a.jpg", (100, 80)), ("b.jpg", (50, 50)), ("c.jpg", (40, 30))):
        Image.new("RGB", size).save(images / name)
    data = {
        "images": [
            {"id": 11, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 12, "file_name": "b.jpg", "width": 60, "height": 50},
            {"id": 13, "file_name": "c.jpg", "width": 40, "height": 30},
            {"id": 14, "file_name": "missing.jpg", "width": 10, "height": 10},
        ],
        "categories": [
            {"id": 7, "name": "zebra"},
            {"id": 1, "name": "person"},
            {"id": 3, "name": "car"},
        ],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 7, "bbox": [0, 0, 200, 10], "iscrowd": 1},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [5.5, 5, 10, 10], "iscrowd": 0},
            {"id": 4, "image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2], "iscrowd": 0},
        ],
    }
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(data))
    return str(path), str(images)


def test_coco_json_maps_categories_boxes_and_crowds(coco_files):
    path, image_dir = coco_files
    samples, report, names = load_coco_json(path, image_dir)
    assert names == ["person", "car", "zebra"]  # contiguous indices in category id order
    by_id = {s.image_id: s for s in samples}
    assert set(by_id) == {"a", "b", "c"}  # named by file stem, as VOC and YOLO samples are
    a = by_id["a"]
    np.testing.assert_allclose(
        a.boxes, [[10, 20, 40, 60], [0, 0, 100, 10]]
    )  # crowd box clipped to the image
    assert a.class_ids.tolist() == [0, 2] and a.difficult.tolist() == [False, True]
    np.testing.assert_allclose(by_id["b"].boxes, [[5.5, 5, 15.5, 15]])
    assert by_id["c"].boxes.shape == (0, 4)
    messages = " | ".join(f"{f}: {m}" for f, m in report.problems)
    for expected in (
        "unknown image id 99",
        "missing.jpg: image file not found",
        "b.jpg: declared size 60x50",
        "c.jpg: no objects",
        "a.jpg: zebra box",
    ):
        assert expected in messages
    assert report.num_skipped == 1 and report.class_counts == {"person": 1, "car": 1, "zebra": 1}
    assert training_boxes(a)[1].tolist() == [0]


def test_coco_json_with_a_class_subset_counts_the_rest_as_unknown(coco_files, tmp_path):
    path, image_dir = coco_files
    samples, report, names = load_coco_json(path, image_dir, class_names=["car", "person"])
    assert names == ["car", "person"]
    assert {s.image_id: s.class_ids.tolist() for s in samples}["a"] == [1]
    assert report.unknown_classes == {"zebra": 1}
    with pytest.raises(DatasetError, match="not a COCO instances file"):
        (tmp_path / "bad.json").write_text("[1, 2]")
        load_coco_json(str(tmp_path / "bad.json"), image_dir)
    with pytest.raises(DatasetError, match="not found"):
        load_coco_json(str(tmp_path / "nope.json"), image_dir)


def test_coco_images_whose_stems_repeat_keep_their_coco_ids(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (20, 20)).save(tmp_path / folder / "same.jpg")
    data = {
        "images": [{"id": 5, "file_name": "x/same.jpg"}, {"id": 6, "file_name": "y/same.jpg"}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "i.json").write_text(json.dumps(data))
    samples, _, _ = load_coco_json(str(tmp_path / "i.json"), str(tmp_path))
    assert [s.image_id for s in samples] == ["5", "6"]
