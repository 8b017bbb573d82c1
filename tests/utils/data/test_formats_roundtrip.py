"""Converting real datasets between VOC, COCO and YOLO and back gives the same samples."""

import json
import os

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.data.convert import convert_dataset
from utils.data.datasets import open_dataset
from utils.data.samples import DatasetError
from utils.data.writers import write_yolo
from utils.data.yolo_dataset import YoloDataset

FORMATS = ("voc", "coco", "yolo")
TRUNCATED = "2007_000027"  # voc_mini's truncated JPEG
YOLO_PX = 1e-3  # what YOLO's six decimals keep of a pixel coordinate


def _voc_mini(folder):
    """One VOC folder of voc_mini's VOC2007 (difficult chairs in 000005) and VOC2012 (the
    truncated JPEG) images, linked, with their trainval and test splits."""
    devkit = shared_path("datasets", "voc_mini", "VOCdevkit")
    root = os.path.join(folder, "voc_mini")
    for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(root, sub))
    for year in ("VOC2007", "VOC2012"):
        for sub in ("Annotations", "JPEGImages"):
            for name in sorted(os.listdir(os.path.join(devkit, year, sub))):
                os.symlink(os.path.join(devkit, year, sub, name), os.path.join(root, sub, name))
    for split in ("trainval", "test"):
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as out:
            for year in ("VOC2007", "VOC2012"):
                with open(os.path.join(devkit, year, "ImageSets", "Main", f"{split}.txt")) as f:
                    out.write(f.read())
    return root


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """{format: path} of voc_mini as VOC, and as COCO and YOLO converted from the VOC."""
    folder = tmp_path_factory.mktemp("forms")
    voc = _voc_mini(str(folder))
    paths = {"voc": voc}
    for to in ("coco", "yolo"):
        paths[to] = convert_dataset(open_dataset(voc), to, str(folder / to)).out
    return paths


def _read(path):
    """({split: samples}, class names) of a dataset on disk, every split's ids indexing the
    dataset's class names."""
    dataset = open_dataset(path)
    names = dataset.class_names()
    return {s: dataset.load(s, names).samples for s in dataset.split_names()}, names


def _objects(sample, drop_difficult=False):
    keep = ~sample.difficult if drop_difficult else np.ones(len(sample.boxes), bool)
    return sample.boxes[keep], sample.class_ids[keep], sample.difficult[keep]


def _assert_same_samples(expected, actual, atol=0.0, drop_difficult=False):
    """Same splits, image files, sizes, boxes (to ``atol`` px), classes and difficult flags, in
    the same order; ``drop_difficult``: ``expected``'s difficult objects are not in ``actual``."""
    (want, want_names), (got, got_names) = expected, actual
    assert got_names == want_names and list(got) == list(want)
    for split in want:
        names = [os.path.basename(s.image_path) for s in want[split]]
        assert [os.path.basename(s.image_path) for s in got[split]] == names, split
        for a, b in zip(want[split], got[split]):
            assert (a.image_id, a.width, a.height) == (b.image_id, b.width, b.height)
            boxes, class_ids, difficult = _objects(a, drop_difficult)
            if atol:
                np.testing.assert_allclose(b.boxes, boxes, rtol=0, atol=atol, err_msg=a.image_id)
            else:
                np.testing.assert_array_equal(b.boxes, boxes, err_msg=a.image_id)
            assert b.class_ids.tolist() == class_ids.tolist(), a.image_id
            assert b.difficult.tolist() == difficult.tolist(), a.image_id


@pytest.mark.parametrize("a, b", [(a, b) for a in FORMATS for b in FORMATS if a != b])
def test_round_trip_gives_back_the_same_samples(forms, tmp_path, a, b):
    there = convert_dataset(open_dataset(forms[a]), b, str(tmp_path / b))
    back = convert_dataset(open_dataset(there.out), a, str(tmp_path / "back"))
    assert open_dataset(back.out).format == a
    # Whole pixels stay whole (YOLO -> VOC rounds YOLO's six decimals back to VOC's integers);
    # a YOLO form keeps the boxes to its six decimals.
    exact = a == "voc" or "yolo" not in (a, b)
    _assert_same_samples(
        _read(forms[a]), _read(back.out), atol=0 if exact else YOLO_PX, drop_difficult=b == "yolo"
    )


def test_coco_and_yolo_forms_hold_the_voc_boxes(forms):
    voc = _read(forms["voc"])
    _assert_same_samples(voc, _read(forms["coco"]))
    _assert_same_samples(voc, _read(forms["yolo"]), atol=YOLO_PX, drop_difficult=True)


def test_difficult_flag_is_a_coco_attribute_and_survives_voc_coco_voc(forms, tmp_path):
    with open(os.path.join(forms["coco"], "annotations", "instances_trainval.json")) as f:
        data = json.load(f)
    marked = [a for a in data["annotations"] if a.get("attributes", {}).get("difficult")]
    chair = 1 + [c["name"] for c in data["categories"]].index("chair")
    assert [a["category_id"] for a in marked] == [chair, chair]
    back = convert_dataset(open_dataset(forms["coco"]), "voc", str(tmp_path / "voc"))
    (sample,) = [s for s in open_dataset(back.out).load("trainval").samples if s.difficult.any()]
    assert sample.image_id == "000005" and int(sample.difficult.sum()) == 2


@pytest.mark.parametrize("source", ["voc", "coco"])
def test_difficult_objects_are_noted_as_dropped_for_yolo(forms, tmp_path, source):
    result = convert_dataset(open_dataset(forms[source]), "yolo", str(tmp_path / "yolo"))
    assert result.notes == ["2 difficult chair objects dropped (YOLO txt cannot mark them)"]
    assert "note: 2 difficult chair objects dropped" in "\n".join(result.lines())
    labels = open(os.path.join(result.out, "labels", "000005.txt")).read().splitlines()
    voc_5 = [s for s in open_dataset(forms["voc"]).load("test").samples if s.image_id == "000005"]
    assert len(labels) == len(voc_5[0].boxes) - 2


@pytest.mark.parametrize("to", FORMATS)
def test_truncated_image_is_reported_and_left_out_of_the_output(forms, tmp_path, to):
    result = convert_dataset(open_dataset(forms["voc"]), to, str(tmp_path / "out"))
    truncated = [m for f, m in result.report.problems if f == f"{TRUNCATED}.xml"]
    assert truncated and all("truncated" in m for m in truncated)
    assert result.split_counts == {"trainval": 9, "test": 9}
    written = [name for _, _, names in os.walk(result.out) for name in names]
    assert written and not [n for n in written if TRUNCATED in n]
    for split in ("trainval", "test"):
        ids = [s.image_id for s in open_dataset(result.out).load(split).samples]
        assert len(ids) == 9 and TRUNCATED not in ids


def test_output_folder_gets_the_usual_permissions(forms, tmp_path):
    umask = os.umask(0o022)
    try:
        result = convert_dataset(open_dataset(forms["yolo"]), "coco", str(tmp_path / "coco"))
    finally:
        os.umask(umask)
    assert os.stat(result.out).st_mode & 0o777 == 0o755


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".converting"))


def test_failed_conversion_leaves_no_output_behind(forms, tmp_path, monkeypatch):
    dataset = open_dataset(forms["voc"])
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="unknown dataset format 'darknet'"):
        convert_dataset(dataset, "darknet", str(out))
    assert not out.exists()

    def half_written(staging, parts, class_names, copy):
        write_yolo(staging, parts, class_names, copy)
        raise OSError("disk full")

    monkeypatch.setattr(YoloDataset, "write", staticmethod(half_written))
    with pytest.raises(OSError, match="disk full"):
        convert_dataset(dataset, "yolo", str(out))
    assert not out.exists() and _leftovers(tmp_path) == []


def test_an_existing_output_is_refused_unless_it_is_an_empty_folder(forms, tmp_path):
    dataset = open_dataset(forms["coco"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine\n")
    (tmp_path / "file").write_text("mine\n")
    for name, message in (("full", "exists and is not empty"), ("file", "is not a folder")):
        with pytest.raises(DatasetError, match=message):
            convert_dataset(dataset, "voc", str(tmp_path / name))
    assert os.listdir(tmp_path / "full") == ["keep.txt"]
    assert (tmp_path / "file").read_text() == "mine\n"
    (tmp_path / "empty").mkdir()
    assert convert_dataset(dataset, "voc", str(tmp_path / "empty")).split_counts["test"] == 9
    assert _leftovers(tmp_path) == []


def test_raccoon_voc_coco_and_yolo_forms_give_the_same_splits(tmp_path):
    voc = shared_path("datasets", "raccoon", "VOC2007")
    paths = {"voc": voc}
    for to in ("coco", "yolo"):
        result = convert_dataset(open_dataset(voc), to, str(tmp_path / to))
        assert result.report.problems == [] and result.notes == []
        paths[to] = result.out
    forms = {name: _read(path) for name, path in paths.items()}
    assert list(forms["voc"][0]) == ["train", "test"]
    assert [len(s) for s in forms["voc"][0].values()] == [160, 40]
    _assert_same_samples(forms["voc"], forms["coco"])
    _assert_same_samples(forms["voc"], forms["yolo"], atol=YOLO_PX)


def test_coco_form_is_read_when_its_first_image_is_gone(forms, tmp_path):
    coco = convert_dataset(open_dataset(forms["voc"]), "coco", str(tmp_path / "coco")).out
    os.remove(os.path.join(coco, "images", "000001.jpg"))
    read = open_dataset(coco).load("test")
    assert [s.image_id for s in read.samples][:2] == ["000002", "000003"]
    assert len(read.samples) == 8 and read.report.num_skipped == 1
    assert "not found" in dict(read.report.problems)["000001.jpg"]


def test_whole_coco_form_holds_each_image_once_as_voc_does(forms):
    ids = {
        name: [s.image_id for s in open_dataset(forms[name]).load(None).samples] for name in FORMATS
    }
    assert len(ids["voc"]) == 9 and ids["coco"] == ids["voc"] == ids["yolo"]
