"""The dataset interface across formats: split names each format accepts, the default
validation split, and what conversion says it could not carry."""

import json
import os

from PIL import Image

from utils.data.convert import convert_dataset
from utils.data.datasets import default_val_split, open_dataset


def _coco_folder(root, splits):
    os.makedirs(root / "images")
    Image.new("RGB", (40, 30)).save(root / "images" / "a.jpg")
    for split in splits:
        data = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "x"}]}
        path = root / "annotations" / f"instances_{split}.json"
        os.makedirs(path.parent, exist_ok=True)
        path.write_text(json.dumps(data))


def test_coco_2017_names_answer_train_and_val(tmp_path):
    _coco_folder(tmp_path, ["train2017", "val2017"])
    dataset = open_dataset(str(tmp_path))
    assert dataset.resolve_split("val") == "val2017" and dataset.has_split("train")
    assert default_val_split(dataset, "train") == "val"
    assert dataset.load("val").where.endswith("split 'val' of " + str(tmp_path))


def test_roboflow_valid_is_the_default_validation_split(tmp_path):
    for split in ("train", "valid", "test"):
        os.makedirs(tmp_path / split)
        Image.new("RGB", (40, 30)).save(tmp_path / split / "a.jpg")
        data = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "x"}]}
        (tmp_path / split / "_annotations.coco.json").write_text(json.dumps(data))
    dataset = open_dataset(str(tmp_path))
    assert dataset.split_names() == ["train", "valid", "test"]
    assert default_val_split(dataset, "train") == "val"
    assert len(dataset.load("val").samples) == 1


def test_a_label_file_with_a_byte_order_mark_reads_its_first_line(tmp_path):
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "labels")
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n", encoding="utf-8-sig")
    (tmp_path / "classes.txt").write_text("cat\n", encoding="utf-8-sig")
    read = open_dataset(str(tmp_path)).load(None)
    assert read.class_names == ["cat"] and read.report.problems == []
    assert read.samples[0].boxes.tolist() == [[10.0, 7.5, 30.0, 22.5]]


def test_voc_annotations_in_no_split_are_counted_in_the_conversion_notes(tmp_path):
    root = tmp_path / "voc"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        os.makedirs(root / sub)
    for stem in ("a", "b"):
        Image.new("RGB", (40, 30)).save(root / "JPEGImages" / f"{stem}.jpg")
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><object><name>cat</name><bndbox>"
            "<xmin>1</xmin><ymin>2</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object>"
            "</annotation>"
        )
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\n")
    result = convert_dataset(open_dataset(str(root)), "coco", str(tmp_path / "out"))
    assert result.split_counts == {"train": 1}
    assert "1 annotated images that no split lists were not converted" in result.notes
