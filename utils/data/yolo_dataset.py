"""The YOLO dataset: an Ultralytics ``data.yaml``, or a folder with ``images/`` and ``labels/``.

A data.yaml's split values are relative to its ``path``, or to the yaml's folder when it has
none. A relative ``path`` is looked for beside the yaml first, then in the working folder (where
Ultralytics looks, besides its own datasets folder). A value starting with ``../`` that does not
exist is also tried without it, as Ultralytics does (Roboflow's exports say ``../train/images``
for a ``train/images`` beside the yaml). The splits are the keys Ultralytics reads (train, val,
test, minival), plus any other key naming a path that exists. A pose dataset's ``kpt_shape``
says how many keypoint values follow each box. The label files are read by
:mod:`utils.data.yolo`.
"""

from __future__ import annotations

import os

import yaml

from utils.data.datasets import Dataset, DatasetSplit, register_dataset_format
from utils.data.samples import DatasetError, DatasetReport
from utils.data.writers import write_yolo
from utils.data.yolo import (
    CLASSES_FILE,
    YAML_META_KEYS,
    images_in_folder,
    images_in_list_file,
    is_image_file,
    load_yolo_images,
)

YAML_NAMES = ("data.yaml", "dataset.yaml")
# The keys Ultralytics reads as splits.
STANDARD_SPLITS = ("train", "val", "test", "minival")


def _yaml_in(folder):
    for name in YAML_NAMES:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def read_data_yaml(path: str) -> dict:
    """The yaml's mapping, checked to have usable ``names``; :class:`DatasetError` otherwise."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not valid YAML (not UTF-8 text)") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise DatasetError(f"{path} is not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} is not a YOLO data.yaml (expected a mapping with names)")
    if "names" not in data:
        raise DatasetError(f"{path} has no 'names' (the class names, a list or a dict id: name)")
    data["names"] = _names_list(data["names"], path)
    if "nc" in data and data["nc"] != len(data["names"]):
        raise DatasetError(f"{path}: nc is {data['nc']} but 'names' has {len(data['names'])}")
    return data


def _names_list(names, path):
    """names as a list; a dict must number its classes 0..N-1."""
    if isinstance(names, dict):
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: the keys of 'names' must be class ids 0..N-1") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise DatasetError(f"{path}: the ids of 'names' must be 0..{len(by_id) - 1}")
        names = [by_id[i] for i in range(len(by_id))]
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{path}: 'names' must be a non-empty list or dict of class names")
    return [str(n) for n in names]


def _keypoint_values(data, path):
    """The values after the box on each line of a pose dataset (kpt_shape [K, D]: K * D)."""
    shape = data.get("kpt_shape")
    if shape is None:
        return 0
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) for n in shape)):
        raise DatasetError(f"{path}: kpt_shape must be [keypoints, 2 or 3], not {shape!r}")
    return shape[0] * shape[1]


def _is_split_value(value):
    """A path, or a non-empty list of paths (not kpt_shape's numbers or flip_idx's)."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) for v in value)
    return isinstance(value, str) and bool(value)


def _read_classes_file(folder):
    for path in (os.path.join(folder, CLASSES_FILE), os.path.join(folder, "labels", CLASSES_FILE)):
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8-sig") as f:
                    return [line.strip() for line in f if line.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"cannot read the class names in {path}: {exc}") from None
    return None


@register_dataset_format
class YoloDataset(Dataset):
    """YOLO txt labels, described by a data.yaml or laid out as images/ + labels/."""

    format = "yolo"
    write = staticmethod(write_yolo)
    description = (
        "an Ultralytics data.yaml (path, train/val/test, names), or a folder with "
        "images/<split>/ and labels/<split>/ (<stem>.txt: class cx cy w h, normalised) and "
        "classes.txt"
    )

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        self.yaml_path = path if os.path.isfile(path) else _yaml_in(path)
        if self.yaml_path is not None:
            data = read_data_yaml(self.yaml_path)
            self.root = self._yaml_root(data)
            self.names = data["names"]
            self.keypoint_values = _keypoint_values(data, self.yaml_path)
            # The standard keys are splits; another key is one when it names a path that exists
            # (convert_dataset.py's trainval), so a 'license:' line is not taken for a split.
            self._split_values = {
                k: v
                for k, v in data.items()
                if k not in YAML_META_KEYS
                and _is_split_value(v)
                and (k in STANDARD_SPLITS or self._resolves(v))
            }
            if not self._split_values:
                raise DatasetError(f"{self.yaml_path} names no split (train: images/train, ...)")
        else:
            self.root = path
            self.keypoint_values = 0
            if not (
                os.path.isdir(os.path.join(path, "images"))
                and os.path.isdir(os.path.join(path, "labels"))
            ):
                raise DatasetError(
                    f"not a YOLO folder: {path} has no data.yaml, nor images/ and labels/"
                )
            self.names = _read_classes_file(path)
            self._split_values = {
                name: os.path.join("images", name)
                for name in sorted(os.listdir(os.path.join(path, "images")))
                if os.path.isdir(os.path.join(path, "images", name))
            }

    def _yaml_root(self, data):
        """``path`` (relative: to the yaml's folder, else to the working folder), or the yaml's
        folder when it has none."""
        folder = os.path.dirname(self.yaml_path)
        root = data.get("path")
        if not root:
            return folder
        beside = os.path.normpath(os.path.join(folder, str(root)))
        if os.path.isdir(beside) or os.path.isabs(str(root)):
            return beside
        here = os.path.abspath(str(root))
        return here if os.path.isdir(here) else beside

    def _resolves(self, value):
        values = value if isinstance(value, list) else [value]
        return all(self._resolve(str(v)) is not None for v in values)

    @classmethod
    def claims(cls, path: str) -> bool:
        if os.path.isfile(path):
            return path.lower().endswith((".yaml", ".yml"))
        if _yaml_in(path):
            return True
        return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(
            os.path.join(path, "labels")
        )

    @property
    def one_piece(self) -> bool:
        return not self._split_values

    def split_names(self) -> list[str]:
        return list(self._split_values)

    def class_names(self, split: str | None = None) -> list[str]:
        if not self.names:
            raise DatasetError(
                f"{self.root} has no class names: add a data.yaml or classes.txt, or give --classes"
            )
        return list(self.names)

    def load(self, split, class_names=None, *, check_images=True, progress=False) -> DatasetSplit:
        names = self.names or (list(class_names) if class_names else None) or self.class_names()
        report = DatasetReport()
        images = self.split_images(split, report)
        samples, report = load_yolo_images(
            images,
            names,
            class_names,
            report=report,
            check_images=check_images,
            progress=progress,
            keypoint_values=self.keypoint_values,
        )
        used = list(names if class_names is None else class_names)
        return DatasetSplit(samples, report, used, self.describe(split))

    def split_images(self, split: str | None, report: DatasetReport) -> list[str]:
        """The image paths of ``split`` (None: of every split, each once), in order."""
        if self.one_piece:
            return images_in_folder(os.path.join(self.root, "images"))
        if split is None:
            keys = list(self._split_values)
        elif split in self._split_values:
            keys = [split]
        else:
            raise self.missing_split(split)
        images = []
        for key in keys:
            values = self._split_values[key]
            for value in values if isinstance(values, list) else [values]:
                images.extend(self._entry_images(key, str(value), report))
        return list(dict.fromkeys(images)) if split is None else images

    def _entry_images(self, key, value, report):
        path = self._resolve(value)
        if path is None:
            where = self.yaml_path or self.root
            raise DatasetError(f"{where}: '{key}' points at {value}, which does not exist")
        if os.path.isdir(path):
            return images_in_folder(path)
        if is_image_file(path):
            return [os.path.abspath(path)]
        return images_in_list_file(path, report)

    def _resolve(self, value):
        candidates = [os.path.join(self.root, value)]
        if value.startswith("../"):
            candidates.append(os.path.join(self.root, value[3:]))
        return next((os.path.normpath(c) for c in candidates if os.path.exists(c)), None)
