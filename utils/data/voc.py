"""PASCAL VOC folders: annotations, split files, and the samples of a split.

A VOC folder holds ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg`` and
``ImageSets/Main/<split>.txt``. Problems of single files are reported in the
:class:`utils.data.samples.DatasetReport` and reading goes on (see :mod:`utils.data.samples`).
"""

import os
import random
import xml.etree.ElementTree as ET

import numpy as np

from utils import files
from utils.data.datasets import Dataset, DatasetSplit, register_dataset_format
from utils.data.images import DATASET_IMAGE_EXTENSIONS
from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    _index_images,
    _validated_objects,
    image_size,
    training_boxes,
)
from utils.data.writers import write_voc
from utils.options import default

SPLIT_NAMES = ("trainval", "train", "val", "test")


def _text(element, tag, default=""):
    child = element.find(tag)
    return default if child is None or child.text is None else child.text.strip()


def parse_voc_xml(path):
    """Parse one VOC annotation file.

    Returns ``(filename, declared_size, objects, object_problems)``: ``declared_size`` is
    ``(width, height)`` or None when absent or zero, ``objects`` is a list of
    ``(name, [x1, y1, x2, y2], difficult)`` with float coordinates, and ``object_problems`` lists
    messages about objects that could not be read (left out). Raises ``ET.ParseError`` or
    ``OSError`` when the file cannot be read as XML.
    """
    root = ET.parse(path).getroot()
    filename = _text(root, "filename")
    declared = None
    size = root.find("size")
    if size is not None:
        try:
            declared = (
                int(float(_text(size, "width", "0"))),
                int(float(_text(size, "height", "0"))),
            )
        except ValueError:
            declared = None
        if declared is not None and (declared[0] <= 0 or declared[1] <= 0):
            declared = None
    objects, problems = [], []
    for number, obj in enumerate(root.iter("object"), 1):
        name = _text(obj, "name")
        bndbox = obj.find("bndbox")
        if not name or bndbox is None:
            problems.append(f"object {number} has no {'name' if not name else 'bndbox'}; left out")
            continue
        try:
            box = [float(_text(bndbox, tag)) for tag in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            problems.append(
                f"object {number} ({name}) has a missing or non-numeric coordinate; left out"
            )
            continue
        if not all(np.isfinite(box)):
            problems.append(f"object {number} ({name}) has a non-finite coordinate; left out")
            continue
        hard = _text(obj, "difficult", "0")
        try:
            hard = int(float(hard)) != 0
        except ValueError:
            hard = hard.lower() == "true"
        objects.append((name, box, hard))
    return filename, declared, objects, problems


def _resolve_image(voc_root, image_index, stem, filename, xml_name, report):
    """Absolute image path for an annotation (by its stem, else its <filename>), or None."""
    image_dir = os.path.join(voc_root, "JPEGImages")
    # Labelling tools may store a Windows path or leave the extension out.
    declared = os.path.basename(filename.replace("\\", "/"))
    name = image_index.get(stem)
    if name is None and declared and os.path.isfile(os.path.join(image_dir, declared)):
        name = declared
        report.add_problem(
            xml_name,
            f"no image named {stem}.*; using <filename> {filename}",
            "image found by <filename>",
        )
    elif name is not None and declared and declared not in (name, stem):
        report.add_problem(
            xml_name,
            f"<filename> {filename!r} is not the image's name; using {name}",
            "<filename> mismatch",
        )
    if name is None:
        report.add_problem(
            xml_name,
            f"image not found: no {stem}{'/'.join(DATASET_IMAGE_EXTENSIONS)} in {image_dir}",
            "missing image",
        )
        return None
    return os.path.abspath(os.path.join(image_dir, name))


def _read_voc_annotation(voc_root, image_index, image_id, class_names, check_images, report):
    """One validated Sample for an annotation id, or None (the reason is in the report)."""
    xml_name = image_id + ".xml"
    xml_path = os.path.join(voc_root, "Annotations", xml_name)
    try:
        filename, declared, objects, object_problems = parse_voc_xml(xml_path)
    except FileNotFoundError:
        report.add_problem(xml_name, "annotation file not found", "missing annotation")
        return None
    except (ET.ParseError, OSError, UnicodeDecodeError) as exc:
        report.add_problem(xml_name, f"cannot parse XML ({exc})", "unparsable XML")
        return None
    for message in object_problems:
        report.add_problem(xml_name, message, "bad object")
    image_path = _resolve_image(voc_root, image_index, image_id, filename, xml_name, report)
    if image_path is None:
        return None
    try:
        width, height = image_size(image_path, check=check_images)
    except ImageProblem as exc:
        report.add_problem(xml_name, f"{os.path.basename(image_path)}: {exc}; skipped", "bad image")
        return None
    if declared is not None and declared != (width, height):
        report.add_problem(
            xml_name,
            f"declared size {declared[0]}x{declared[1]} differs from the "
            f"image's {width}x{height}; using the image's",
            "size mismatch",
        )
    if not objects and not object_problems:
        report.add_problem(xml_name, "no objects; kept as a background image", "no objects")
    boxes, class_ids, difficult = _validated_objects(
        objects, width, height, class_names, xml_name, report
    )
    return Sample(image_id, image_path, int(width), int(height), boxes, class_ids, difficult)


def _check_voc_root(voc_root):
    annotations = os.path.join(voc_root, "Annotations")
    if not os.path.isdir(annotations):
        raise DatasetError(
            f"not a VOC folder: {annotations} does not exist "
            "(expected Annotations/, JPEGImages/, ImageSets/Main/)"
        )
    images = os.path.join(voc_root, "JPEGImages")
    if not os.path.isdir(images):
        raise DatasetError(f"not a VOC folder: {images} does not exist")


def resolve_voc_root(path):
    """The VOC folder a user meant: ``path`` itself when it holds ``Annotations/``, else its only
    subfolder that does (``raccoon/`` -> ``raccoon/VOC2007``). Raises :class:`DatasetError`."""
    if os.path.isdir(os.path.join(path, "Annotations")):
        return path
    if not os.path.isdir(path):
        raise DatasetError(f"dataset folder not found: {path}")
    candidates = sorted(
        name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name, "Annotations"))
    )
    if len(candidates) == 1:
        return os.path.join(path, candidates[0])
    if candidates:
        raise DatasetError(
            f"{path} holds several VOC folders ({', '.join(candidates)}); name one of them"
        )
    raise DatasetError(f"not a VOC folder: {path} has no Annotations/ (nor a subfolder with one)")


def list_voc_class_names(voc_root, ids=None):
    """Sorted names of every object class in a VOC folder's annotations (unparsable files
    ignored)."""
    names: set[str] = set()
    for image_id in list_annotation_ids(voc_root) if ids is None else ids:
        try:
            _, _, objects, _ = parse_voc_xml(
                os.path.join(voc_root, "Annotations", image_id + ".xml")
            )
        except (ET.ParseError, OSError, UnicodeDecodeError):
            continue
        names.update(name for name, _, _ in objects)
    return sorted(names)


def list_annotation_ids(voc_root):
    """Sorted stems of the ``Annotations/*.xml`` files of a VOC folder."""
    _check_voc_root(voc_root)
    names = os.listdir(os.path.join(voc_root, "Annotations"))
    return sorted(n[:-4] for n in names if n.endswith(".xml"))


def load_voc_folder(voc_root, class_names, ids=None, *, check_images=True, progress=False):
    """Read the annotations ``ids`` (default: every ``Annotations/*.xml``) of a VOC folder.

    Returns ``(samples, report)``; see the module docstring for what is validated. With
    ``check_images`` each image is also tested for truncation (cheap; see :func:`image_size`).
    ``voc_root`` may also be a folder with exactly one VOC folder inside (see
    :func:`resolve_voc_root`).
    """
    voc_root = resolve_voc_root(voc_root)
    _check_voc_root(voc_root)
    if ids is None:
        ids = list_annotation_ids(voc_root)
    class_names = list(class_names)
    image_index = _index_images(os.path.join(voc_root, "JPEGImages"))
    report = DatasetReport(
        class_counts=dict.fromkeys(class_names, 0),
        difficult_counts=dict.fromkeys(class_names, 0),
    )
    if progress:
        from tqdm import tqdm

        ids = tqdm(ids, desc="reading annotations", unit="file")
    samples = []
    for image_id in ids:
        sample = _read_voc_annotation(
            voc_root, image_index, image_id, class_names, check_images, report
        )
        if sample is None:
            report.num_skipped += 1
        else:
            samples.append(sample)
    report.num_images = len(samples)
    return samples, report


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


def load_voc_split(voc_root, split, class_names, *, check_images=True, progress=False):
    """Read the samples listed in ``ImageSets/Main/<split>.txt`` of a VOC folder.

    ``voc_root`` holds ``Annotations/``, ``JPEGImages/`` and ``ImageSets/Main/``. Returns
    ``(samples, report)``. Ids listed twice are read once and reported. ``voc_root`` may also be
    a folder with exactly one VOC folder inside (see :func:`resolve_voc_root`).
    """
    voc_root = resolve_voc_root(voc_root)
    _check_voc_root(voc_root)
    ids, duplicates = unique_ids(read_split_ids(voc_root, split))
    samples, report = load_voc_folder(
        voc_root, class_names, ids, check_images=check_images, progress=progress
    )
    report_duplicates(report, split, duplicates)
    return samples, report


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


def annotation_line(sample):
    """The reference's ``2007_train.txt`` line ``path x1,y1,x2,y2,cls ...``: training objects only,
    coordinates truncated to ints as the reference does."""
    boxes, class_ids = training_boxes(sample)
    parts = [sample.image_path]
    for box, class_id in zip(boxes, class_ids):
        parts.append(",".join(str(int(v)) for v in box) + f",{int(class_id)}")
    return " ".join(parts)


@register_dataset_format
class VocDataset(Dataset):
    """A PASCAL VOC folder: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/*.txt``."""

    format = "voc"
    write = staticmethod(write_voc)
    description = (
        "a folder with Annotations/<id>.xml, JPEGImages/<id>.jpg and ImageSets/Main/<split>.txt "
        "(or a folder holding one such folder, e.g. VOCdevkit/)"
    )

    def __init__(self, path: str) -> None:
        self.root = resolve_voc_root(path)
        _check_voc_root(self.root)

    @classmethod
    def claims(cls, path: str) -> bool:
        if not os.path.isdir(path):
            return False
        try:
            resolve_voc_root(path)
        except DatasetError:
            return False
        return True

    def split_names(self) -> list[str]:
        """The standard split files present, then any other ones (not VOC's per-class
        ``<class>_<split>.txt`` lists)."""
        folder = os.path.dirname(split_path(self.root, "train"))
        names = os.listdir(folder) if os.path.isdir(folder) else []
        others = sorted(n[:-4] for n in names if n.endswith(".txt") and "_" not in n)
        return list(existing_splits(self.root)) + [n for n in others if n not in SPLIT_NAMES]

    def resolve_split(self, split: str) -> str | None:
        return split if os.path.isfile(split_path(self.root, split)) else None

    def missing_split(self, split: str) -> DatasetError:
        names = self.split_names()
        known = f"splits: {', '.join(names)}" if names else "it has no split files"
        return DatasetError(
            f"VOC folder {self.root} has no {split_path(self.root, split)} ({known}; write "
            "them with check_dataset.py --write-splits)"
        )

    def unlisted_images(self) -> int:
        splits = self.split_names()
        if not splits:
            return 0
        listed = set().union(*(read_split_ids(self.root, s) for s in splits))
        return len(set(list_annotation_ids(self.root)) - listed)

    def class_names(self, split: str | None = None) -> list[str]:
        ids = None if split is None else read_split_ids(self.root, split)
        return list_voc_class_names(self.root, ids)

    def load(self, split, class_names=None, *, check_images=True, progress=False) -> DatasetSplit:
        if class_names is None:
            class_names = self.class_names(split)
        class_names = list(class_names)
        if split is None:
            samples, report = load_voc_folder(
                self.root, class_names, check_images=check_images, progress=progress
            )
        else:
            samples, report = load_voc_split(
                self.root, split, class_names, check_images=check_images, progress=progress
            )
        return DatasetSplit(samples, report, class_names, self.describe(split))
