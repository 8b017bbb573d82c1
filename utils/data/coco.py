"""COCO instances files: categories, images and boxes read into validated samples."""

import collections
import json
import os
from collections.abc import Sequence

from utils.data.datasets import Dataset, DatasetSplit, merge_reports, register_dataset_format
from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    _validated_objects,
    image_size,
)
from utils.data.writers import write_coco


def load_coco_json(
    instances_json: str,
    image_dir: str,
    class_names: Sequence[str] | None = None,
    *,
    check_images: bool = True,
    progress: bool = False,
) -> tuple[list[Sample], DatasetReport, list[str]]:
    """Read a COCO ``instances_*.json`` into samples.

    Categories are mapped to contiguous indices in the order of their ids (COCO's 91 ids become
    80 classes); with ``class_names`` given they are mapped by name instead, and categories not
    in it count as unknown classes. Boxes ``[x, y, w, h]`` become ``[x1, y1, x2, y2]``; crowd
    annotations (``iscrowd``) and those with a true ``attributes.difficult`` (what
    convert_dataset.py writes for VOC's difficult objects) are kept as difficult. Images without
    annotations are kept as background images and reported. Returns
    ``(samples, report, class_names)``.
    """
    data = _read_instances_file(instances_json)
    return coco_samples(
        data, os.path.basename(instances_json), image_dir, class_names, check_images, progress
    )


def coco_samples(data, json_name, image_dir, class_names=None, check_images=True, progress=False):
    """:func:`load_coco_json` for a file already read (``json_name`` names it in the report)."""
    report = DatasetReport()
    categories = _sorted_categories(data, json_name, report)
    category_names = {c["id"]: str(c["name"]) for c in categories}
    if class_names is None:
        class_names = [category_names[c["id"]] for c in categories]
    class_names = list(class_names)
    report.class_counts = dict.fromkeys(class_names, 0)
    report.difficult_counts = dict.fromkeys(class_names, 0)
    images = _unique_images(data["images"], json_name, report)
    annotations = data.get("annotations", [])
    objects = _objects_by_image(annotations, images, category_names, json_name, report)
    samples = _read_samples(images, objects, image_dir, class_names, report, check_images, progress)
    report.num_images = len(samples)
    return samples, report, class_names


def _sorted_categories(data, json_name, report):
    categories = _valid_entries(data["categories"], ("id", "name"), f"{json_name} category", report)
    categories.sort(key=lambda c: _id_order(c["id"]))
    return categories


def _read_instances_file(instances_json):
    """The file's JSON object, checked to have lists of images and categories."""
    try:
        with open(instances_json, encoding="utf8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"COCO annotation file not found: {instances_json}") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read COCO annotation file {instances_json}: {exc}") from None
    if not isinstance(data, dict) or "images" not in data or "categories" not in data:
        raise DatasetError(
            f"{instances_json} is not a COCO instances file (needs 'images' and 'categories')"
        )
    for key in ("images", "categories", "annotations"):
        if not isinstance(data.get(key, []), list):
            raise DatasetError(
                f"{instances_json}: '{key}' must be a list, not {type(data[key]).__name__}"
            )
    return data


def _unique_images(entries, json_name, report):
    """{image id: entry} of the valid image entries; a repeated id keeps its first entry."""
    images = {}
    for image in _valid_entries(entries, ("id", "file_name"), f"{json_name} image", report):
        if image["id"] in images:
            report.add_problem(
                f"{json_name} image {image['id']}",
                "id listed more than once; the first entry is used",
                "duplicate id",
            )
        else:
            images[image["id"]] = image
    return images


def _objects_by_image(annotations, images, category_names, json_name, report):
    """{image id: [(class name, [x1, y1, x2, y2], crowd)]} of the usable annotations."""
    objects_by_image = collections.defaultdict(list)
    for ann in _valid_entries(annotations, ("image_id", "bbox"), f"{json_name} annotation", report):
        where = f"{json_name} annotation {ann.get('id', '?')}"
        if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in images:
            report.add_problem(
                where, f"refers to unknown image id {ann['image_id']!r}; skipped", "bad annotation"
            )
            continue
        category = ann.get("category_id")
        if not isinstance(category, (int, str)):
            report.add_problem(
                where, f"category_id {category!r} is not an id; skipped", "bad annotation"
            )
            continue
        name = category_names.get(category, f"category id {category}")
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (TypeError, ValueError):
            report.add_problem(where, "has no valid bbox; skipped", "bad annotation")
            continue
        objects_by_image[ann["image_id"]].append((name, [x, y, x + w, y + h], _is_difficult(ann)))
    return objects_by_image


def _is_difficult(annotation):
    attributes = annotation.get("attributes")
    marked = isinstance(attributes, dict) and bool(attributes.get("difficult"))
    return bool(annotation.get("iscrowd", 0)) or marked


def _read_samples(images, objects_by_image, image_dir, class_names, report, check_images, progress):
    """The samples of the images that can be read, in the file's order. A sample's id is its
    file's stem, as in the other formats (so results sort alike), or the COCO id where stems
    repeat."""
    image_ids = list(images)
    stems = [os.path.splitext(os.path.basename(str(images[i]["file_name"])))[0] for i in image_ids]
    names = dict(zip(image_ids, stems)) if len(set(stems)) == len(stems) else None
    if progress:
        from tqdm import tqdm

        image_ids = tqdm(image_ids, desc="reading images", unit="image")
    samples = []
    for image_id in image_ids:
        objects = objects_by_image.get(image_id, [])
        sample = _image_sample(
            image_id, images[image_id], objects, image_dir, class_names, report, check_images
        )
        if sample is not None:
            sample.image_id = names[image_id] if names else str(image_id)
            samples.append(sample)
    return samples


def _image_sample(image_id, image, objects, image_dir, class_names, report, check_images):
    """The image's :class:`Sample`, or None (reported) when the image cannot be read."""
    file_name = str(image.get("file_name", ""))
    path = os.path.abspath(os.path.join(image_dir, file_name))
    try:
        width, height = image_size(path, check=check_images)
    except ImageProblem as exc:
        report.add_problem(file_name or str(image_id), f"{exc}; skipped", "bad image")
        report.num_skipped += 1
        return None
    declared = (image.get("width"), image.get("height"))
    if all(declared) and tuple(declared) != (width, height):
        report.add_problem(
            file_name,
            f"declared size {declared[0]}x{declared[1]} differs from the "
            f"image's {width}x{height}; using the image's",
            "size mismatch",
        )
    if not objects:
        report.add_problem(file_name, "no objects; kept as a background image", "no objects")
    boxes, class_ids, difficult = _validated_objects(
        objects, width, height, class_names, file_name, report
    )
    return Sample(str(image_id), path, int(width), int(height), boxes, class_ids, difficult)


def _valid_entries(entries, keys, what, report):
    """The entries that are objects with ``keys`` and a usable id; the others are reported."""
    valid = []
    for number, entry in enumerate(entries):
        missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
        if missing:
            report.add_problem(
                f"{what} {number + 1}", f"has no {', '.join(missing)}; skipped", "bad entry"
            )
        elif "id" in keys and not isinstance(entry["id"], (int, str)):
            report.add_problem(
                f"{what} {number + 1}",
                f"id {entry['id']!r} is not a number or a string; skipped",
                "bad entry",
            )
        else:
            valid.append(entry)
    return valid


def _id_order(value):
    """Sort key for ids that may mix numbers and strings."""
    return (isinstance(value, str), value)


# ---------------------------------------------------------------------------------------------
# The dataset: one instances file, or a folder of them

ROBOFLOW_JSON = "_annotations.coco.json"
# What a split asked for may be called in a COCO folder besides its own name (COCO's
# 'train2017', Roboflow's 'valid').
_SPLIT_ALIASES = {"val": ("valid", "validation")}
# How many of a split's first images are looked for to find its image folder.
_IMAGES_LOOKED_FOR = 20


def split_name_of(json_path: str) -> str:
    """'val2017' for instances_val2017.json, the file's stem otherwise."""
    stem = os.path.splitext(os.path.basename(json_path))[0]
    return stem[len("instances_") :] if stem.startswith("instances_") else stem


def _folder_splits(root):
    """{split: (json path, image folder or None)} of a COCO folder: annotations/*.json (the
    instances_* ones when there are any), or Roboflow's <split>/_annotations.coco.json."""
    splits = {}
    annotations = os.path.join(root, "annotations")
    if os.path.isdir(annotations):
        names = sorted(n for n in os.listdir(annotations) if n.endswith(".json"))
        instances = [n for n in names if n.startswith("instances")]
        for name in instances or names:
            splits[split_name_of(name)] = (os.path.join(annotations, name), None)
    if not splits and os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name, ROBOFLOW_JSON)
            if os.path.isfile(path):
                splits[name] = (path, os.path.join(root, name))
    return dict(sorted(splits.items(), key=lambda item: _split_order(item[0])))


def _split_order(name):
    """Training splits first, then validation, then test, then the rest by name."""
    for rank, prefix in enumerate(("trainval", "train", "val", "test")):
        if name.startswith(prefix):
            return rank, name
    return 4, name


def _single_json(folder):
    """The one .json directly in a folder with no annotations/ (a dataset without splits, as
    convert_dataset.py writes one), else None."""
    if not os.path.isdir(folder) or os.path.isdir(os.path.join(folder, "annotations")):
        return None
    names = [n for n in os.listdir(folder) if n.lower().endswith(".json")]
    return os.path.join(folder, names[0]) if len(names) == 1 else None


def _match_split(names, split):
    """The split of ``names`` that ``split`` asks for: itself, or with a year ('train2017'),
    or an alias ('valid' for 'val'); None when there is none or several."""
    if split in names:
        return split
    wanted = (split, *_SPLIT_ALIASES.get(split, ()))
    matches = [n for n in names if any(n.startswith(w) and n[len(w) :].isdigit() for w in wanted)]
    matches += [n for n in names if n in wanted[1:]]
    return matches[0] if len(set(matches)) == 1 else None


@register_dataset_format
class CocoDataset(Dataset):
    """COCO instances files: one file is one split; a folder holds one file per split."""

    format = "coco"
    write = staticmethod(write_coco)
    description = (
        "an instances .json (its images in --coco-images), or a folder with "
        "annotations/instances_<split>.json and images/ (or <split>/ image folders)"
    )

    def __init__(self, path: str, images: str | None = None) -> None:
        path = _single_json(path) or path
        self.root = path
        self.images = images
        if os.path.isfile(path):
            self._splits = {split_name_of(path): (path, images)}
        else:
            self._splits = _folder_splits(path)
            if not self._splits:
                raise DatasetError(
                    f"not a COCO folder: {path} has no annotations/*.json "
                    f"(nor <split>/{ROBOFLOW_JSON})"
                )

    @classmethod
    def claims(cls, path: str) -> bool:
        if os.path.isfile(path):
            return path.lower().endswith(".json")
        if _folder_splits(path):
            return True
        # A lone .json in a folder that is plainly another format's (a YOLO data.yaml or labels/,
        # VOC's Annotations/) is not what the folder is.
        return bool(_single_json(path)) and not any(
            os.path.exists(os.path.join(path, n))
            for n in ("data.yaml", "dataset.yaml", "labels", "Annotations")
        )

    @property
    def one_piece(self) -> bool:
        return os.path.isfile(self.root)

    def split_names(self) -> list[str]:
        return [] if self.one_piece else list(self._splits)

    def resolve_split(self, split: str) -> str | None:
        if self.one_piece:
            return split
        return _match_split(list(self._splits), split)

    def _split_files(self, split):
        """[(split name, json path, image folder or None)] that ``split`` reads."""
        if self.one_piece or split is None:
            return [(name, *paths) for name, paths in self._splits.items()]
        name = _match_split(list(self._splits), split)
        if name is None:
            raise self.missing_split(split)
        return [(name, *self._splits[name])]

    def class_names(self, split: str | None = None) -> list[str]:
        _name, json_path, _ = self._split_files(split)[0]
        data = _read_instances_file(json_path)
        report = DatasetReport()
        return [
            str(c["name"]) for c in _sorted_categories(data, os.path.basename(json_path), report)
        ]

    def load(self, split, class_names=None, *, check_images=True, progress=False) -> DatasetSplit:
        parts = []
        for name, json_path, image_dir in self._split_files(split):
            data = _read_instances_file(json_path)
            image_dir = self.images or image_dir or self._find_images(name, json_path, data)
            samples, report, class_names = coco_samples(
                data, os.path.basename(json_path), image_dir, class_names, check_images, progress
            )
            parts.append((samples, report))
        # An image in several splits (trainval and train) is one sample of the whole dataset.
        samples, seen = [], set()
        for part, _ in parts:
            for sample in part:
                if sample.image_path not in seen:
                    seen.add(sample.image_path)
                    samples.append(sample)
        report = parts[0][1] if len(parts) == 1 else merge_reports([r for _, r in parts])
        return DatasetSplit(samples, report, list(class_names), self.describe(split))

    def _find_images(self, split, json_path, data):
        """The image folder of a split: the first of images/<split>, <split>/, images/ and the
        json's own folder (beside the root or annotations/) holding one of its first images."""
        folder = os.path.dirname(os.path.abspath(json_path))
        root = os.path.dirname(folder) if os.path.basename(folder) == "annotations" else folder
        candidates = [
            os.path.join(root, "images", split),
            os.path.join(root, split),
            os.path.join(root, "images"),
            folder,
            root,
        ]
        names = [str(i.get("file_name", "")) for i in data["images"] if isinstance(i, dict)]
        if not names:
            return candidates[-1]
        # Several names, so that one missing image (reported when read) does not hide the folder.
        for name in names[:_IMAGES_LOOKED_FOR]:
            for candidate in candidates:
                if os.path.isfile(os.path.join(candidate, name)):
                    return candidate
        raise DatasetError(
            f"cannot find the images of {json_path} ({names[0]} is in none of "
            f"{', '.join(dict.fromkeys(candidates))}); give --coco-images DIR"
        )
