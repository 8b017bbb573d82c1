"""YOLO txt datasets: one ``<stem>.txt`` of normalised ``class cx cy w h`` lines per image.

Two layouts are read (see :mod:`utils.data.datasets` for how ``--data`` picks one):

* an Ultralytics ``data.yaml`` with ``names`` (a list, or a dict of id -> name), an optional
  ``path`` (the root; default the yaml's folder) and split keys (``train``, ``val``, ``test``...)
  whose values are image folders, txt files of image paths, or lists of either;
* a folder with ``images/`` and ``labels/``, whose splits are the subfolders of ``images/`` (or
  ``images/`` itself when it holds the images directly); names from ``classes.txt``.

An image's label file is found as Ultralytics finds it: the last ``images`` folder of its path
becomes ``labels`` and the extension ``.txt``; an image under no ``images`` folder has its label
beside it. An image without a label file, or with an empty one, is a background image. Problems of
single lines and files are reported in the :class:`~utils.data.samples.DatasetReport` and skipped.
"""

import math
import os
from collections.abc import Sequence

from utils.data.images import DATASET_IMAGE_EXTENSIONS
from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    _validated_objects,
    image_size,
)
from utils.files import read_list_file

# Keys of a data.yaml that are not splits.
YAML_META_KEYS = frozenset({"path", "names", "nc", "download", "yaml_file", "channels"})
CLASSES_FILE = "classes.txt"
# How far a box edge may pass the image (as a fraction of it) from rounding alone.
_EDGE_SLACK = 1e-5


def label_path(image_path: str) -> str:
    """The label file of an image: ``.../images/x/a.jpg`` -> ``.../labels/x/a.txt``."""
    folder, name = os.path.split(image_path)
    parts = folder.split(os.sep)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return os.path.join(os.sep.join(parts), os.path.splitext(name)[0] + ".txt")


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in DATASET_IMAGE_EXTENSIONS


def images_in_folder(folder: str) -> list[str]:
    """Every image file below ``folder`` (recursively), sorted by path."""
    found: list[str] = []
    for parent, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(parent, n) for n in sorted(names) if is_image_file(n))
    return [os.path.abspath(p) for p in found]


def images_in_list_file(path: str, report: DatasetReport) -> list[str]:
    """The image paths a txt split file lists, one per line. A relative one is relative to the
    file's folder (Ultralytics' rule for ``./`` lines), else to the working folder (its rule
    for the others). Listed images that do not exist are reported."""
    try:
        entries = read_list_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read split list {path}: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    images = []
    for number, line in entries:
        image = os.path.abspath(os.path.join(base, line))
        if not os.path.isfile(image) and not line.startswith("./"):
            image = os.path.abspath(line)
        if os.path.isfile(image):
            images.append(image)
        else:
            report.add_problem(
                f"{os.path.basename(path)} line {number}",
                f"image {line} not found; skipped",
                "missing image",
            )
            report.num_skipped += 1
    return images


def parse_label_lines(
    text: str, num_names: int, keypoint_values: int = 0
) -> tuple[list, list[str]]:
    """``[(class_id, cx, cy, w, h)]`` of a label file's text and a message per bad line.

    A line is ``class cx cy w h`` (or a polygon ``class x1 y1 x2 y2 x3 y3 ...``, read as its
    bounding box); ``cx cy w h`` are fractions of the image and the box must have a size.
    """
    objects, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        values = line.split()
        if not values:
            continue
        problem, obj = _parse_label_line(values, num_names, keypoint_values)
        if problem:
            problems.append(f"line {number}: {problem}; skipped")
        else:
            objects.append(obj)
    return objects, problems


def _parse_label_line(values, num_names, keypoint_values=0):
    """(problem, None) or (None, (class_id, cx, cy, w, h)) for one line's values; a pose
    dataset's line has ``keypoint_values`` more after the box, which are not needed here."""
    if keypoint_values:
        if len(values) != 5 + keypoint_values:
            return f"{len(values)} values, expected {5 + keypoint_values} (box and keypoints)", None
        values = values[:5]
    polygon = len(values) >= 7 and len(values) % 2 == 1
    if len(values) != 5 and not polygon:
        return f"{len(values)} values, expected 5 (class cx cy w h)", None
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return f"non-numeric value in {' '.join(values)!r}", None
    if not all(math.isfinite(v) for v in numbers):
        return f"non-finite value in {' '.join(values)!r}", None
    class_id = numbers[0]
    if class_id != int(class_id) or class_id < 0:
        return f"class {values[0]!r} is not a class index", None
    if class_id >= num_names:
        return f"class id {int(class_id)} is beyond names (0..{num_names - 1})", None
    if polygon:
        xs, ys = numbers[1::2], numbers[2::2]
        if not all(0.0 <= v <= 1.0 for v in xs + ys):
            return "polygon point outside 0..1 (coordinates must be normalised)", None
        box = (
            (min(xs) + max(xs)) / 2,
            (min(ys) + max(ys)) / 2,
            max(xs) - min(xs),
            max(ys) - min(ys),
        )
    else:
        box = (numbers[1], numbers[2], numbers[3], numbers[4])
        if not all(0.0 <= v <= 1.0 for v in box):
            return (
                f"coordinates {' '.join(values[1:])} outside 0..1 (must be normalised)",
                None,
            )
    if box[2] <= 0 or box[3] <= 0:
        return f"box has zero size (w {box[2]:g}, h {box[3]:g})", None
    return None, (int(class_id), *box)


def _read_label_file(path, names, report, file, keypoint_values=0):
    """([(class name, normalised cx cy w h)], whether the file exists) of one label file; its
    problems are reported."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        return [], False
    except (OSError, UnicodeDecodeError) as exc:
        report.add_problem(
            file, f"cannot read label file ({exc}); image kept without labels", "bad label file"
        )
        return [], True
    objects, problems = parse_label_lines(text, len(names), keypoint_values)
    for message in problems:
        report.add_problem(file, message, "bad label line")
    return [(names[c], (cx, cy, w, h)) for c, cx, cy, w, h in objects], True


def _pixel_box(box, width, height):
    """Pixel corners of a normalised box; edges past the image by no more than the rounding of
    six decimals (how YOLO labels are written) are put on the edge, not reported as clipped."""
    cx, cy, w, h = box
    edges = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    edges = [0.0 if -_EDGE_SLACK < v < 0 else 1.0 if 1 < v < 1 + _EDGE_SLACK else v for v in edges]
    return [edges[0] * width, edges[1] * height, edges[2] * width, edges[3] * height]


def _image_ids(image_paths):
    """The file stem of each image, or where stems repeat its path below the common folder with
    '__' between the folders (ids name result files, so they hold no '/')."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in image_paths]
    if len(set(stems)) == len(stems):
        return stems
    common = os.path.commonpath([os.path.dirname(p) for p in image_paths])
    return [
        os.path.splitext(os.path.relpath(p, common))[0].replace(os.sep, "__") for p in image_paths
    ]


def load_yolo_images(
    image_paths: Sequence[str],
    names: Sequence[str],
    class_names: Sequence[str] | None = None,
    *,
    report: DatasetReport | None = None,
    check_images: bool = True,
    progress: bool = False,
    keypoint_values: int = 0,
) -> tuple[list[Sample], DatasetReport]:
    """Samples of the given images with their YOLO label files, in the given order.

    ``names`` are the dataset's class names (the ids of the label lines index them); the samples'
    class ids index ``class_names`` (default ``names``), matched by name, and names missing from
    it count as unknown classes. Repeated images are read once. ``keypoint_values``: the values
    after the box on a pose dataset's lines (its kpt_shape's product).
    """
    class_names = list(names if class_names is None else class_names)
    if report is None:
        report = DatasetReport()
    for name in class_names:
        report.class_counts.setdefault(name, 0)
        report.difficult_counts.setdefault(name, 0)
    unique = list(dict.fromkeys(image_paths))
    if len(unique) != len(image_paths):
        report.add_problem(
            "split",
            f"{len(image_paths) - len(unique)} images listed more than once; read once",
            "duplicate id",
        )
    items = list(zip(_image_ids(unique), unique))
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="reading labels", unit="image")
    samples = []
    for image_id, image_path in items:
        sample = _image_sample(
            image_id, image_path, names, class_names, report, check_images, keypoint_values
        )
        if sample is None:
            report.num_skipped += 1
        else:
            samples.append(sample)
    _report_orphan_labels(unique, report)
    report.num_images = len(samples)
    return samples, report


def _image_sample(image_id, image_path, names, class_names, report, check_images, keypoints):
    file = os.path.basename(image_path)
    try:
        width, height = image_size(image_path, check=check_images)
    except ImageProblem as exc:
        report.add_problem(file, f"{exc}; skipped", "bad image")
        return None
    labels = label_path(image_path)
    objects, found = _read_label_file(labels, names, report, os.path.basename(labels), keypoints)
    if not found:
        report.add_problem(file, "no label file; kept as a background image", "no label file")
    elif not objects:
        report.add_problem(
            os.path.basename(labels), "no objects; kept as a background image", "no objects"
        )
    pixel_objects = [(name, _pixel_box(box, width, height), False) for name, box in objects]
    boxes, class_ids, difficult = _validated_objects(
        pixel_objects, width, height, class_names, os.path.basename(labels), report
    )
    return Sample(image_id, image_path, int(width), int(height), boxes, class_ids, difficult)


def _report_orphan_labels(image_paths, report):
    """Report label files, in the label folders of these images, whose image does not exist."""
    image_dirs = {os.path.dirname(p) for p in image_paths}
    for image_dir in sorted(image_dirs):
        label_dir = os.path.dirname(label_path(os.path.join(image_dir, "x.jpg")))
        if label_dir == image_dir or not os.path.isdir(label_dir):
            continue
        stems = {os.path.splitext(n)[0] for n in os.listdir(image_dir) if is_image_file(n)}
        for name in sorted(os.listdir(label_dir)):
            stem, ext = os.path.splitext(name)
            if ext == ".txt" and name != CLASSES_FILE and stem not in stems:
                report.add_problem(
                    name,
                    f"label file without an image in {image_dir}; skipped",
                    "label without image",
                )
