"""COCO instances files: categories, images and boxes read into validated samples."""

import collections
import json
import os
from collections.abc import Sequence

from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    _validated_objects,
    image_size,
)


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
    annotations (``iscrowd``) are kept as difficult. Images without annotations are kept as
    background images and reported. Returns ``(samples, report, class_names)``.
    """
    data = _read_instances_file(instances_json)
    json_name = os.path.basename(instances_json)
    report = DatasetReport()
    categories = _valid_entries(data["categories"], ("id", "name"), f"{json_name} category", report)
    categories.sort(key=lambda c: _id_order(c["id"]))
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
        name = category_names.get(ann.get("category_id"), f"category id {ann.get('category_id')}")
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (TypeError, ValueError):
            report.add_problem(where, "has no valid bbox; skipped", "bad annotation")
            continue
        objects_by_image[ann["image_id"]].append(
            (name, [x, y, x + w, y + h], bool(ann.get("iscrowd", 0)))
        )
    return objects_by_image


def _read_samples(images, objects_by_image, image_dir, class_names, report, check_images, progress):
    """The samples of the images that can be read, in the file's order."""
    image_ids = list(images)
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
