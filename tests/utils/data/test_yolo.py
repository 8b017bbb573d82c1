"""YOLO txt datasets from synthetic folders: labels, bad input, data.yaml layouts, detection."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from utils.data.datasets import open_dataset
from utils.data.samples import DatasetError

W, H = 200, 100  # every image's size unless a test says otherwise
NAMES = ["cat", "dog"]


def _image(path, size=(W, H)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)
    return str(path)


def _text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf8") as f:
        f.write(text)
    return str(path)


def _folder(root, labels, split="train", names=NAMES):
    """images/<split>/<stem>.jpg + labels/<split>/<stem>.txt (None: no label file) and
    classes.txt; returns the root."""
    for stem, text in labels.items():
        _image(root / "images" / split / f"{stem}.jpg")
        if text is not None:
            _text(root / "labels" / split / f"{stem}.txt", text)
    os.makedirs(root / "labels" / split, exist_ok=True)
    _text(root / "classes.txt", "".join(n + "\n" for n in names))
    return str(root)


def _load(root, split="train", **kwargs):
    return open_dataset(str(root)).load(split, **kwargs)


def _problems(report, file):
    return [message for f, message in report.problems if f == file]


# --------------------------------------------------------------------------- label lines


def test_normalised_lines_become_pixel_boxes(tmp_path):
    root = _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.4\n1 0.25 0.75 0.1 0.1\n"})
    read = _load(root)
    (sample,) = read.samples
    assert (sample.image_id, sample.width, sample.height) == ("a", W, H)
    np.testing.assert_allclose(sample.boxes, [[80, 30, 120, 70], [40, 70, 60, 80]], atol=1e-4)
    assert sample.boxes.dtype == np.float32
    assert sample.class_ids.tolist() == [0, 1] and sample.difficult.tolist() == [False, False]
    assert read.report.problems == [] and read.class_names == NAMES
    assert read.report.class_counts == {"cat": 1, "dog": 1}


def test_polygon_line_becomes_its_bounding_box(tmp_path):
    root = _folder(tmp_path, {"a": "1 0.1 0.2 0.4 0.2 0.3 0.6\n"})
    (sample,) = _load(root).samples
    np.testing.assert_allclose(sample.boxes, [[20, 20, 80, 60]], atol=1e-4)
    assert sample.class_ids.tolist() == [1]


def test_box_on_the_image_edge_is_exact_and_one_past_it_is_clipped(tmp_path):
    root = _folder(tmp_path, {"a": "0 0.5 0.5 1 1\n1 0.9 0.5 0.4 0.2\n"})
    read = _load(root)
    np.testing.assert_allclose(read.samples[0].boxes, [[0, 0, W, H], [140, 40, W, 60]], atol=1e-4)
    (message,) = _problems(read.report, "a.txt")
    assert "dog box" in message and "clipped" in message


def test_images_without_or_with_an_empty_label_file_are_background(tmp_path):
    root = _folder(tmp_path, {"none": None, "empty": "", "blank": "\n  \n"})
    read = _load(root)
    assert [s.image_id for s in read.samples] == ["blank", "empty", "none"]
    assert all(len(s.boxes) == 0 for s in read.samples)
    assert "no label file" in _problems(read.report, "none.jpg")[0]
    assert "background" in _problems(read.report, "empty.txt")[0]
    assert "background" in _problems(read.report, "blank.txt")[0]
    assert read.report.num_skipped == 0


@pytest.mark.parametrize(
    "line, expected",
    [
        ("0 0.5 0.5 0.2", "4 values, expected 5"),
        ("0 0.5 0.5 0.2 0.2 0.9", "6 values"),
        ("0 1.5 0.5 0.2 0.2", "outside 0..1"),
        ("0 0.5 -0.1 0.2 0.2", "outside 0..1"),
        ("0 0.1 0.2 1.3 0.2 0.3 0.6", "polygon point outside 0..1"),
        ("0 0.5 0.5 0 0.2", "zero size"),
        ("0 0.2 0.2 0.2 0.2 0.2 0.2", "zero size"),
        ("2 0.5 0.5 0.2 0.2", "class id 2 is beyond names (0..1)"),
        ("-1 0.5 0.5 0.2 0.2", "not a class index"),
        ("0.5 0.5 0.5 0.2 0.2", "not a class index"),
        ("cat 0.5 0.5 0.2 0.2", "non-numeric"),
        ("0 0.5 nan 0.2 0.2", "non-finite"),
    ],
)
def test_bad_label_line_is_reported_with_its_file_and_line_and_skipped(tmp_path, line, expected):
    root = _folder(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n" + line + "\n", "b": "0 0.5 0.5 0.1 0.1\n"})
    read = _load(root)
    assert [s.image_id for s in read.samples] == ["a", "b"]
    assert read.samples[0].class_ids.tolist() == [1]  # the good line of the same file is kept
    (message,) = _problems(read.report, "a.txt")
    assert message.startswith("line 2: ") and expected in message and "skipped" in message
    assert read.report.problem_kinds == {"bad label line": 1}


def test_unreadable_image_is_reported_and_skipped(tmp_path):
    root = _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "b": "0 0.5 0.5 0.2 0.2\n"})
    with open(tmp_path / "images" / "train" / "b.jpg", "wb") as f:
        f.write(b"not a jpeg at all")
    read = _load(root)
    assert [s.image_id for s in read.samples] == ["a"] and read.report.num_skipped == 1
    assert "skipped" in _problems(read.report, "b.jpg")[0]


def test_label_file_without_an_image_is_reported(tmp_path):
    root = _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    _text(tmp_path / "labels" / "train" / "ghost.txt", "0 0.5 0.5 0.2 0.2\n")
    read = _load(root)
    assert [s.image_id for s in read.samples] == ["a"]
    (message,) = _problems(read.report, "ghost.txt")
    assert "without an image" in message


def test_listed_image_that_does_not_exist_is_reported(tmp_path):
    _image(tmp_path / "images" / "a.jpg")
    _text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    _text(tmp_path / "train.txt", "images/a.jpg\n\nimages/missing.jpg\n")
    _text(tmp_path / "data.yaml", "train: train.txt\nnames: [cat, dog]\n")
    read = _load(tmp_path)
    assert [s.image_id for s in read.samples] == ["a"]
    (message,) = _problems(read.report, "train.txt line 3")
    assert "images/missing.jpg not found" in message
    assert read.report.num_skipped == 1


# --------------------------------------------------------------------------- data.yaml


@pytest.mark.parametrize("names", ["[cat, dog]", "{0: cat, 1: dog}", "{'1': dog, '0': cat}"])
def test_yaml_names_as_list_or_dict(tmp_path, names):
    _folder(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n"})
    _text(tmp_path / "data.yaml", f"train: images/train\nnames: {names}\n")
    dataset = open_dataset(str(tmp_path))
    assert dataset.format == "yolo" and dataset.class_names() == NAMES
    assert dataset.load("train").report.class_counts == {"cat": 0, "dog": 1}


@pytest.mark.parametrize("path", ["absolute", "relative", "absent"])
def test_yaml_path_absolute_relative_or_absent(tmp_path, path):
    data = tmp_path / "datasets" / "pets"
    _folder(data, {"a": "0 0.5 0.5 0.2 0.2\n"})
    if path == "absent":
        yaml_path = data / "data.yaml"
        line = ""
    else:
        yaml_path = tmp_path / "configs" / "pets.yaml"
        line = f"path: {data if path == 'absolute' else '../datasets/pets'}\n"
    _text(yaml_path, line + "train: images/train\nnames: [cat, dog]\n")
    dataset = open_dataset(str(yaml_path))
    assert dataset.root == str(data)
    (sample,) = dataset.load("train").samples
    assert sample.image_path == str(data / "images" / "train" / "a.jpg")


def test_split_values_as_folder_txt_list_or_both(tmp_path):
    _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"}, split="train")
    _folder(tmp_path, {"b": "1 0.5 0.5 0.2 0.2\n", "c": ""}, split="val")
    # Relative paths in a list are relative to the list's folder; absolute ones are kept.
    c_path = tmp_path / "images" / "val" / "c.jpg"
    _text(tmp_path / "lists" / "val.txt", f"# the val images\n../images/val/b.jpg\n{c_path}\n")
    _text(
        tmp_path / "data.yaml",
        "train: images/train\nval: lists/val.txt\ntest: [images/train, lists/val.txt]\n"
        "names: [cat, dog]\n",
    )
    dataset = open_dataset(str(tmp_path))
    assert dataset.split_names() == ["train", "val", "test"] and not dataset.one_piece

    def ids(split):
        return [s.image_id for s in dataset.load(split).samples]

    assert (ids("train"), ids("val"), ids("test")) == (["a"], ["b", "c"], ["a", "b", "c"])
    assert [s.image_id for s in dataset.load(None).samples] == ["a", "b", "c"]


def test_roboflow_split_paths_beside_the_yaml(tmp_path):
    for split, stem in (("train", "a"), ("valid", "b")):
        _image(tmp_path / split / "images" / f"{stem}.jpg")
        _text(tmp_path / split / "labels" / f"{stem}.txt", "1 0.5 0.5 0.2 0.2\n")
    _text(
        tmp_path / "data.yaml",
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\n"
        "names: ['cat', 'dog']\nroboflow:\n  workspace: w\n  version: 1\n",
    )
    dataset = open_dataset(str(tmp_path / "data.yaml"))
    assert dataset.split_names() == ["train", "val", "test"]
    (sample,) = dataset.load("val").samples
    assert sample.image_id == "b" and sample.class_ids.tolist() == [1]
    with pytest.raises(DatasetError, match="'test' points at ../test/images"):
        dataset.load("test")


def test_folder_layout_with_split_subfolders_and_classes_txt(tmp_path):
    _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"}, split="train")
    _folder(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n"}, split="val", names=["cat", "dog"])
    dataset = open_dataset(str(tmp_path))
    assert dataset.format == "yolo" and not dataset.one_piece
    assert dataset.split_names() == ["train", "val"] and dataset.class_names() == NAMES
    assert dataset.has_split("val") and not dataset.has_split("test")
    assert dataset.load("val").samples[0].class_ids.tolist() == [1]
    # The same stem in two splits: the whole dataset names them by their folder, without a '/'
    # (ids name get_map.py's result files).
    assert [s.image_id for s in dataset.load(None).samples] == ["train__a", "val__a"]
    with pytest.raises(DatasetError, match="no split 'test'"):
        dataset.load("test")


def test_folder_whose_images_folder_holds_the_images_is_one_piece(tmp_path):
    _image(tmp_path / "images" / "a.jpg")
    _image(tmp_path / "images" / "b.png", size=(64, 32))
    _text(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    _text(tmp_path / "labels" / "b.txt", "1 0.5 0.5 0.5 0.5\n")
    _text(tmp_path / "labels" / "classes.txt", "cat\ndog\n")
    dataset = open_dataset(str(tmp_path))
    assert dataset.one_piece and dataset.split_names() == []
    assert dataset.has_split("train") and dataset.class_names() == NAMES
    read = dataset.load("train")
    assert [s.image_id for s in read.samples] == ["a", "b"] and read.report.problems == []
    np.testing.assert_allclose(read.samples[1].boxes, [[16, 8, 48, 24]], atol=1e-4)


def test_folder_without_class_names_asks_for_them(tmp_path):
    _folder(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n"})
    os.remove(tmp_path / "classes.txt")
    dataset = open_dataset(str(tmp_path))
    with pytest.raises(DatasetError, match="no class names"):
        dataset.class_names()
    assert dataset.load("train", class_names=NAMES).samples[0].class_ids.tolist() == [1]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"names: [cat, dog\ntrain: images/train\n", "is not valid YAML (line"),
        (b"\xff\xfe\x00\x81names: [cat]\n", "is not valid YAML"),
        (b"- cat\n- dog\n", "is not a YOLO data.yaml"),
        (b"train: images/train\n", "has no 'names'"),
        (b"train: images/train\nnames: {0: cat, 2: dog}\n", "ids of 'names' must be 0..1"),
        (b"names: [cat]\n", "names no split"),
        (b"train: images/nowhere\nnames: [cat]\n", "'train' points at images/nowhere"),
        (b"train: lists/nowhere.txt\nnames: [cat]\n", "'train' points at lists/nowhere.txt"),
    ],
)
def test_bad_data_yaml_raises_a_one_line_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "data.yaml"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as error:
        open_dataset(str(path)).load("train")
    message = str(error.value)
    assert str(path) in message and expected in message and "\n" not in message


# --------------------------------------------------------------------------- detection


def _voc(root):
    _image(root / "JPEGImages" / "a.jpg")
    _text(
        root / "Annotations" / "a.xml",
        "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>10</xmin>"
        "<ymin>10</ymin><xmax>50</xmax><ymax>40</ymax></bndbox></object></annotation>",
    )
    _text(root / "ImageSets" / "Main" / "train.txt", "a\n")
    return str(root)


def _coco(path, image_dir):
    _image(image_dir / "a.jpg")
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 30]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    return _text(path, json.dumps(data))


def test_open_dataset_detects_the_format_from_the_path(tmp_path):
    yolo = _folder(tmp_path / "yolo", {"a": "0 0.5 0.5 0.2 0.2\n"})
    _text(tmp_path / "yolo" / "data.yaml", "train: images/train\nnames: [cat, dog]\n")
    voc = _voc(tmp_path / "voc")
    coco_file = _coco(tmp_path / "coco" / "annotations" / "instances_train.json", tmp_path / "coco")
    expected = {
        yolo: "yolo",
        os.path.join(yolo, "data.yaml"): "yolo",
        _folder(tmp_path / "plain", {"a": ""}): "yolo",
        voc: "voc",
        str(tmp_path / "coco"): "coco",
        coco_file: "coco",
    }
    assert {path: open_dataset(path).format for path in expected} == expected
    boxes = [open_dataset(p).load("train").samples[0].boxes for p in (voc, coco_file)]
    np.testing.assert_array_equal(boxes[0], [[10, 10, 50, 40]])
    np.testing.assert_array_equal(boxes[1], [[10, 10, 50, 40]])


def test_a_stray_json_does_not_make_a_yolo_or_voc_folder_coco(tmp_path):
    yolo = _folder(tmp_path / "yolo", {"a": "0 0.5 0.5 0.2 0.2\n"})
    _text(tmp_path / "yolo" / "data.yaml", "train: images/train\nnames: [cat, dog]\n")
    voc = _voc(tmp_path / "voc")
    for folder in (yolo, voc):
        _text(os.path.join(folder, "notes.json"), "{}")
    assert (open_dataset(yolo).format, open_dataset(voc).format) == ("yolo", "voc")


def test_a_named_format_is_used_and_a_wrong_one_refused(tmp_path):
    # A folder that is both YOLO (images/ + labels/) and COCO (annotations/*.json).
    _folder(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n"})
    _coco(tmp_path / "annotations" / "instances_train.json", tmp_path / "images" / "train")
    assert open_dataset(str(tmp_path), "yolo").load("train").samples[0].class_ids.tolist() == [1]
    coco = open_dataset(str(tmp_path), "coco")
    assert coco.format == "coco" and coco.class_names() == ["cat"]
    with pytest.raises(DatasetError, match="not a YOLO folder"):
        open_dataset(_voc(tmp_path / "voc"), "yolo")
    with pytest.raises(DatasetError, match="unknown --data-format 'darknet'"):
        open_dataset(str(tmp_path), "darknet")


@pytest.mark.parametrize("kind", ["missing", "empty folder", "text file"])
def test_a_path_that_is_no_dataset_raises(tmp_path, kind):
    path = tmp_path / "thing"
    if kind == "empty folder":
        path.mkdir()
    elif kind == "text file":
        path = tmp_path / "thing.txt"
        path.write_text("hello\n")
    with pytest.raises(DatasetError) as error:
        open_dataset(str(path))
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------- class mapping


def test_class_names_in_another_order_are_mapped_by_name(tmp_path):
    root = _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n"})
    read = _load(root, class_names=["dog", "cat"])
    assert read.class_names == ["dog", "cat"]
    assert read.samples[0].class_ids.tolist() == [1, 0]
    np.testing.assert_allclose(read.samples[0].boxes[0], [80, 40, 120, 60], atol=1e-4)
    assert read.report.class_counts == {"dog": 1, "cat": 1}


def test_names_missing_from_the_class_list_count_as_unknown(tmp_path):
    root = _folder(
        tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n", "b": "0 .5 .5 .5 .5"}
    )
    read = _load(root, class_names=["bird", "dog"])
    assert [s.class_ids.tolist() for s in read.samples] == [[1], []]
    assert read.report.unknown_classes == {"cat": 2}
    assert read.report.unknown_examples == {"cat": "a.txt"}
    assert read.report.class_counts == {"bird": 0, "dog": 1}


def test_pose_lines_give_their_box_and_a_stray_key_is_no_split(tmp_path):
    _image(tmp_path / "images" / "train" / "a.jpg")
    # Two keypoints of (x, y, visible) after the box.
    _text(tmp_path / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.9 0.9 2\n")
    yaml_text = "train: images/train\nnames: [cat]\nkpt_shape: [2, 3]\nlicense: CC BY 4.0\n"
    _text(tmp_path / "data.yaml", yaml_text)
    dataset = open_dataset(str(tmp_path / "data.yaml"))
    assert dataset.split_names() == ["train"]
    read = dataset.load("train")
    assert read.report.problems == []
    np.testing.assert_allclose(read.samples[0].boxes, [[W * 0.4, H * 0.4, W * 0.6, H * 0.6]])


def test_a_folder_two_formats_could_read_is_refused(tmp_path):
    _folder(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"}, split="val")
    _text(tmp_path / "annotations" / "instances_val.json", '{"images": [], "categories": []}')
    with pytest.raises(DatasetError, match="holds a coco and a yolo dataset: name one"):
        open_dataset(str(tmp_path))
    assert open_dataset(str(tmp_path), "yolo").split_names() == ["val"]
