"""The layout of a PASCAL VOC folder: its checks, its annotation ids and its split files
``ImageSets/Main/<split>.txt`` (read, drawn as the reference does, written)."""

import os
import random

from utils import files
from utils.data.samples import DatasetError
from utils.options import default

SPLIT_NAMES = ("trainval", "train", "val", "test")


def check_voc_root(voc_root):
    """Raise a DatasetError unless ``voc_root`` has ``Annotations/`` and ``JPEGImages/``."""
    annotations = os.path.join(voc_root, "Annotations")
    if not os.path.isdir(annotations):
        raise DatasetError(
            f"not a VOC folder: {annotations} does not exist "
            "(expected Annotations/, JPEGImages/, ImageSets/Main/)"
        )
    images = os.path.join(voc_root, "JPEGImages")
    if not os.path.isdir(images):
        raise DatasetError(f"not a VOC folder: {images} does not exist")


def list_annotation_ids(voc_root):
    """Sorted stems of the ``Annotations/*.xml`` files of a VOC folder."""
    check_voc_root(voc_root)
    names = os.listdir(os.path.join(voc_root, "Annotations"))
    return sorted(n[:-4] for n in names if n.endswith(".xml"))


def split_path(voc_root, split):
    return os.path.join(voc_root, "ImageSets", "Main", f"{split}.txt")


def read_split_ids(voc_root, split):
    """Ids listed in ``ImageSets/Main/<split>.txt`` (first token of each non-empty line)."""
    path = split_path(voc_root, split)
    if not os.path.isfile(path):
        raise DatasetError(
            f"split file not found: {path} (write them with check_dataset.py --write-splits "
            "or voc_annotation.py)"
        )
    with open(path, encoding="utf8") as f:
        return [line.split()[0] for line in f if line.strip()]


def unique_ids(ids):
    """(ids in their order without repeats, the repeated ones)."""
    unique: list[str] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for image_id in ids:
        (duplicates if image_id in seen else unique).append(image_id)
        seen.add(image_id)
    return unique, duplicates


def report_duplicates(report, split, duplicates):
    for image_id in duplicates:
        report.add_problem(
            f"{split}.txt", f"id {image_id} listed more than once; read once", "duplicate id"
        )


def existing_splits(voc_root):
    """{split: ids} for the split files of SPLIT_NAMES that exist."""
    return {
        s: read_split_ids(voc_root, s)
        for s in SPLIT_NAMES
        if os.path.isfile(split_path(voc_root, s))
    }


def make_voc_splits(
    ids,
    trainval_percent=default("trainval_percent"),
    train_percent=default("train_percent"),
    seed=default("seed", "annotate"),
):
    """Split ids as the reference does: trainval/test, then trainval into train/val. Seeded."""
    ids = sorted(ids)
    rng = random.Random(seed)
    num_trainval = int(len(ids) * trainval_percent)
    num_train = int(num_trainval * train_percent)
    trainval = set(rng.sample(range(len(ids)), num_trainval))
    train = set(rng.sample(sorted(trainval), num_train))
    return {
        "trainval": [ids[i] for i in range(len(ids)) if i in trainval],
        "train": [ids[i] for i in range(len(ids)) if i in train],
        "val": [ids[i] for i in range(len(ids)) if i in trainval and i not in train],
        "test": [ids[i] for i in range(len(ids)) if i not in trainval],
    }


def write_voc_splits(
    voc_root,
    trainval_percent=default("trainval_percent"),
    train_percent=default("train_percent"),
    seed=default("seed", "annotate"),
    overwrite=False,
):
    """Write ``ImageSets/Main/{trainval,train,val,test}.txt`` when none of them exists.

    The split is drawn from the annotation stems with a seeded generator, so the same folder and
    seed give the same files. When any split file exists already nothing is written (unless
    ``overwrite``), so a dataset's own split is never mixed with a generated one. Returns
    ``{split: ids}`` of the split files on disk after the call.
    """
    for name, value in (("trainval_percent", trainval_percent), ("train_percent", train_percent)):
        if not 0.0 <= value <= 1.0:
            raise DatasetError(f"{name} must be between 0 and 1, got {value}")
    existing = existing_splits(voc_root)
    if existing and not overwrite:
        return existing
    splits = make_voc_splits(list_annotation_ids(voc_root), trainval_percent, train_percent, seed)
    for name, ids in splits.items():
        files.write_text(split_path(voc_root, name), "".join(i + "\n" for i in ids))
    return splits
