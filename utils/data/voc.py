"""PASCAL VOC folders: annotations and the samples of a split (the folder's layout and its split
files: :mod:`utils.data.voc_layout`).

A VOC folder holds ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg`` and
``ImageSets/Main/<split>.txt``. Problems of single files are reported in the
:class:`utils.data.samples.DatasetReport` and reading goes on (see :mod:`utils.data.samples`).
"""

import os
import xml.etree.ElementTree as ET

import numpy as np

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
from utils.data.voc_layout import (
    SPLIT_NAMES,
    check_voc_root,
    existing_splits,
    list_annotation_ids,
    read_split_ids,
    report_duplicates,
    split_path,
    unique_ids,
)
from utils.data.writers import write_voc


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


def load_voc_folder(voc_root, class_names, ids=None, *, check_images=True, progress=False):
    """Read the annotations ``ids`` (default: every ``Annotations/*.xml``) of a VOC folder.

    Returns ``(samples, report)``; see the module docstring for what is validated. With
    ``check_images`` each image is also tested for truncation (cheap; see :func:`image_size`).
    ``voc_root`` may also be a folder with exactly one VOC folder inside (see
    :func:`resolve_voc_root`).
    """
    voc_root = resolve_voc_root(voc_root)
    check_voc_root(voc_root)
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


def load_voc_split(voc_root, split, class_names, *, check_images=True, progress=False):
    """Read the samples listed in ``ImageSets/Main/<split>.txt`` of a VOC folder.

    ``voc_root`` holds ``Annotations/``, ``JPEGImages/`` and ``ImageSets/Main/``. Returns
    ``(samples, report)``. Ids listed twice are read once and reported. ``voc_root`` may also be
    a folder with exactly one VOC folder inside (see :func:`resolve_voc_root`).
    """
    voc_root = resolve_voc_root(voc_root)
    check_voc_root(voc_root)
    ids, duplicates = unique_ids(read_split_ids(voc_root, split))
    samples, report = load_voc_folder(
        voc_root, class_names, ids, check_images=check_images, progress=progress
    )
    report_duplicates(report, split, duplicates)
    return samples, report


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
        check_voc_root(self.root)

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
