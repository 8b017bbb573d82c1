"""Reading VOC and COCO detection datasets into validated samples.

Every reader returns a list of :class:`Sample` and a :class:`DatasetReport`. A problem in one file
(missing or corrupt image, unparsable XML, a box outside the image, an unknown class, ...) is
recorded in the report with the file's name and the reading goes on; only a dataset that cannot be
read at all (no annotation folder, no split file, an unreadable COCO json) raises
:class:`DatasetError`.

Conventions shared with the input pipeline and the evaluation:

* ``Sample.width`` / ``height`` are the size of the image file as stored (EXIF orientation is not
  applied, as the reference and labelling tools do), never the size an annotation declares.
* ``boxes`` are float32 ``[x1, y1, x2, y2]`` pixels, clipped to ``[0, width] x [0, height]``; boxes
  with no area left are dropped.
* Difficult objects (VOC ``<difficult>1``, COCO ``iscrowd``) are kept in the sample with
  ``difficult=True``: evaluation ignores them, and :func:`training_boxes` leaves them out of the
  training targets as the reference implementation does.
"""
import collections
import dataclasses
import json
import os
import random
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image, UnidentifiedImageError

# Extensions looked for next to an annotation's stem, in order of preference.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
SPLIT_NAMES = ("trainval", "train", "val", "test")
# Bytes at the end of a JPEG searched first for the end-of-image marker. Trailing junk after the
# marker is legal; when more junk than this follows, the whole scan is searched.
_JPEG_TAIL_BYTES = 1 << 16


class DatasetError(ValueError):
    """A dataset cannot be read at all (missing folder, split file or json)."""


@dataclasses.dataclass
class Sample:
    """One image and its objects, validated against the image file."""

    image_id: str  # annotation file stem (VOC) or the COCO image id as str
    image_path: str  # absolute path of an existing image file
    width: int  # real image size, read from the image file
    height: int
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 in pixels, clipped to the image
    class_ids: np.ndarray  # (N,) int32 indices into the class list
    difficult: np.ndarray  # (N,) bool


@dataclasses.dataclass
class DatasetReport:
    """What reading a dataset found.

    ``class_counts`` counts every object kept in the samples, difficult ones included;
    ``difficult_counts`` says how many of those are difficult (so the objects used for training
    are ``class_counts[c] - difficult_counts[c]``). ``unknown_classes`` counts objects skipped
    because their class is not in the class list, and ``unknown_examples`` names the first file
    each unknown class appeared in. ``problems`` holds one ``(file, message)`` per problem, in file
    order; ``problem_kinds`` counts them by kind.
    """

    problems: list = dataclasses.field(default_factory=list)
    class_counts: dict = dataclasses.field(default_factory=dict)
    unknown_classes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    difficult_counts: dict = dataclasses.field(default_factory=dict)
    unknown_examples: dict = dataclasses.field(default_factory=dict)
    problem_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    num_images: int = 0  # samples returned
    num_skipped: int = 0  # annotations or images left out because of a problem
    _kinds: list = dataclasses.field(default_factory=list, repr=False)  # kind of each problem

    def add_problem(self, file, message, kind):
        self.problems.append((file, message))
        self.problem_kinds[kind] += 1
        self._kinds.append(kind)

    def _problem_lines(self, max_problems):
        """All problems in file order when they fit, else the first few of each kind, rare kinds first."""
        if max_problems is None or len(self.problems) <= max_problems:
            return [f"  {file}: {message}" for file, message in self.problems]
        per_kind = max(1, max_problems // len(self.problem_kinds))
        lines = []
        for kind, total in sorted(self.problem_kinds.items(), key=lambda item: item[1]):
            shown = [p for p, k in zip(self.problems, self._kinds) if k == kind][:per_kind]
            lines.extend(f"  {file}: {message}" for file, message in shown)
            if total > len(shown):
                lines.append(f"  ... and {total - len(shown)} more: {kind}")
        return lines

    def count_objects(self, class_names, class_ids, difficult):
        for class_id, hard in zip(class_ids.tolist(), difficult.tolist()):
            name = class_names[class_id]
            self.class_counts[name] = self.class_counts.get(name, 0) + 1
            self.difficult_counts[name] = self.difficult_counts.get(name, 0) + int(hard)

    def count_unknown(self, name, file):
        self.unknown_classes[name] += 1
        self.unknown_examples.setdefault(name, file)

    @property
    def num_objects(self):
        return sum(self.class_counts.values())

    def format(self, max_problems=20, counts=True):
        """A readable summary: per-class object counts (unless ``counts`` is False), unknown
        classes, then the problems. At most ``max_problems`` problems are listed one per line
        (None lists all); the count of each kind of problem is always given.
        """
        lines = [f"{self.num_images} images, {self.num_objects} objects"
                 + (f", {self.num_skipped} skipped" if self.num_skipped else "")]
        if counts and self.class_counts:
            width = max(len("class"), *(len(name) for name in self.class_counts))
            lines.append(f"  {'class':<{width}}  {'objects':>8}  {'difficult':>9}")
            for name, count in self.class_counts.items():
                lines.append(f"  {name:<{width}}  {count:>8}  {self.difficult_counts.get(name, 0):>9}")
        for name, count in self.unknown_classes.most_common():
            lines.append(f"  unknown class {name!r}: {count} objects skipped "
                         f"(first in {self.unknown_examples.get(name, '?')})")
        if self.problems:
            kinds = ", ".join(f"{kind} {n}" for kind, n in self.problem_kinds.most_common())
            lines.append(f"{len(self.problems)} problems ({kinds}):")
            lines.extend(self._problem_lines(max_problems))
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def training_boxes(sample):
    """Boxes and class ids of the objects that become training targets: difficult ones left out."""
    keep = ~np.asarray(sample.difficult, bool)
    return (np.asarray(sample.boxes, np.float32).reshape(-1, 4)[keep],
            np.asarray(sample.class_ids, np.int32)[keep])


# ---------------------------------------------------------------------------------------------
# Images


class ImageProblem(ValueError):
    """An image file cannot be used: unreadable, not an image, truncated or corrupt."""


def _jpeg_is_complete(image, path):
    """True when the JPEG's end-of-image marker follows its scan data (truncation check)."""
    # After Image.open the file position is just past the first scan header: everything after
    # it is entropy-coded data and tables, where 0xFF 0xD9 only ever appears as the end marker.
    # (An EXIF thumbnail's own end marker lies before the scan.) The tail is searched first;
    # only a file with much trailing junk after its marker needs the whole scan read.
    scan_start = image.fp.tell()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(scan_start, size - _JPEG_TAIL_BYTES))
        if b"\xff\xd9" in f.read():
            return True
        if size - scan_start <= _JPEG_TAIL_BYTES:
            return False
        f.seek(scan_start)
        return b"\xff\xd9" in f.read()


def image_size(path, check=True):
    """(width, height) of an image file as stored; raises :class:`ImageProblem`.

    With ``check`` the file is also tested for truncation cheaply, without decoding pixels where
    the format allows: a JPEG's scan must end with the end-of-image marker, a PNG's chunks must
    pass their checksums up to the end chunk; other formats are decoded.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if check:
                if image.format == "JPEG":
                    if not _jpeg_is_complete(image, path):
                        raise ImageProblem("image is truncated (no JPEG end marker)")
                elif image.format == "PNG":
                    image.verify()
                else:
                    image.load()
    except FileNotFoundError:
        raise ImageProblem("image file not found") from None
    except UnidentifiedImageError:
        raise ImageProblem("not an image file PIL can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageProblem(f"image is too large to read safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports truncation as OSError
        if isinstance(exc, ImageProblem):
            raise
        text = str(exc) or type(exc).__name__
        if "truncated" in text:
            raise ImageProblem("image is truncated") from None
        raise ImageProblem(f"image is corrupt ({text})") from None
    if width <= 0 or height <= 0:
        raise ImageProblem(f"image has no pixels ({width}x{height})")
    return width, height


def _index_images(image_dir):
    """{stem: file name} for the image files in a folder, preferring IMAGE_EXTENSIONS order."""
    rank = {ext: i for i, ext in enumerate(IMAGE_EXTENSIONS)}
    found = {}
    try:
        names = os.listdir(image_dir)
    except OSError:
        return found
    for name in sorted(names):
        stem, ext = os.path.splitext(name)
        ext = ext.lower()
        if ext in rank and (stem not in found or rank[ext] < rank[os.path.splitext(found[stem])[1].lower()]):
            found[stem] = name
    return found


# ---------------------------------------------------------------------------------------------
# Boxes


def _clip_boxes(boxes, width, height):
    """Clip (N, 4) boxes to the image. Returns clipped boxes, mask of boxes kept, mask of boxes moved."""
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    moved = np.any(clipped != boxes, axis=1)
    kept = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped, kept, moved


def _fmt_box(box):
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _validated_objects(objects, width, height, class_names, file, report):
    """Turn [(name, box, difficult)] into the sample's arrays, reporting and fixing bad boxes."""
    index = {name: i for i, name in enumerate(class_names)}
    boxes, class_ids, difficult = [], [], []
    for name, box, hard in objects:
        if name not in index:
            report.count_unknown(name, file)
            continue
        boxes.append(box)
        class_ids.append(index[name])
        difficult.append(hard)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    class_ids = np.asarray(class_ids, np.int32)
    difficult = np.asarray(difficult, bool)
    if len(boxes):
        clipped, kept, moved = _clip_boxes(boxes, width, height)
        for i in np.flatnonzero(moved & kept):
            report.add_problem(file, f"{class_names[class_ids[i]]} box {_fmt_box(boxes[i])} extends "
                               f"outside the {width}x{height} image; clipped", "box clipped")
        for i in np.flatnonzero(~kept):
            x1, y1, x2, y2 = boxes[i]
            why = ("is empty or inverted (xmax <= xmin or ymax <= ymin)" if x2 <= x1 or y2 <= y1
                   else f"has no area inside the {width}x{height} image")
            report.add_problem(file, f"{class_names[class_ids[i]]} box {_fmt_box(boxes[i])} {why}; dropped",
                               "box dropped")
        boxes, class_ids, difficult = clipped[kept], class_ids[kept], difficult[kept]
    report.count_objects(class_names, class_ids, difficult)
    return boxes, class_ids, difficult


# ---------------------------------------------------------------------------------------------
# VOC


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
            declared = (int(float(_text(size, "width", "0"))), int(float(_text(size, "height", "0"))))
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
            problems.append(f"object {number} ({name}) has a missing or non-numeric coordinate; left out")
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
        report.add_problem(xml_name, f"no image named {stem}.*; using <filename> {filename}",
                           "image found by <filename>")
    elif name is not None and declared and declared not in (name, stem):
        report.add_problem(xml_name, f"<filename> {filename!r} is not the image's name; using {name}",
                           "<filename> mismatch")
    if name is None:
        report.add_problem(xml_name, f"image not found: no {stem}.jpg/.jpeg/.png/.bmp in {image_dir}",
                           "missing image")
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
        report.add_problem(xml_name, f"declared size {declared[0]}x{declared[1]} differs from the "
                           f"image's {width}x{height}; using the image's", "size mismatch")
    if not objects and not object_problems:
        report.add_problem(xml_name, "no objects; kept as a background image", "no objects")
    boxes, class_ids, difficult = _validated_objects(objects, width, height, class_names, xml_name, report)
    return Sample(image_id, image_path, int(width), int(height), boxes, class_ids, difficult)


def _check_voc_root(voc_root):
    annotations = os.path.join(voc_root, "Annotations")
    if not os.path.isdir(annotations):
        raise DatasetError(f"not a VOC folder: {annotations} does not exist "
                           "(expected Annotations/, JPEGImages/, ImageSets/Main/)")
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
    candidates = sorted(name for name in os.listdir(path)
                        if os.path.isdir(os.path.join(path, name, "Annotations")))
    if len(candidates) == 1:
        return os.path.join(path, candidates[0])
    if candidates:
        raise DatasetError(f"{path} holds several VOC folders ({', '.join(candidates)}); name one of them")
    raise DatasetError(f"not a VOC folder: {path} has no Annotations/ (nor a subfolder with one)")


def list_voc_class_names(voc_root, ids=None):
    """Sorted names of every object class in a VOC folder's annotations (unparsable files ignored)."""
    names = set()
    for image_id in list_annotation_ids(voc_root) if ids is None else ids:
        try:
            _, _, objects, _ = parse_voc_xml(os.path.join(voc_root, "Annotations", image_id + ".xml"))
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
    ``voc_root`` may also be a folder with exactly one VOC folder inside (see :func:`resolve_voc_root`).
    """
    voc_root = resolve_voc_root(voc_root)
    _check_voc_root(voc_root)
    if ids is None:
        ids = list_annotation_ids(voc_root)
    class_names = list(class_names)
    image_index = _index_images(os.path.join(voc_root, "JPEGImages"))
    report = DatasetReport(class_counts={name: 0 for name in class_names},
                           difficult_counts={name: 0 for name in class_names})
    if progress:
        from tqdm import tqdm
        ids = tqdm(ids, desc="reading annotations", unit="file")
    samples = []
    for image_id in ids:
        sample = _read_voc_annotation(voc_root, image_index, image_id, class_names, check_images, report)
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
        raise DatasetError(f"split file not found: {path} (write it with voc_annotation.py)")
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
    ids, seen, duplicates = [], set(), []
    for image_id in read_split_ids(voc_root, split):
        if image_id in seen:
            duplicates.append(image_id)
        else:
            seen.add(image_id)
            ids.append(image_id)
    samples, report = load_voc_folder(voc_root, class_names, ids, check_images=check_images,
                                      progress=progress)
    for image_id in duplicates:
        report.add_problem(f"{split}.txt", f"id {image_id} listed more than once; read once", "duplicate id")
    return samples, report


def existing_splits(voc_root):
    """{split: ids} for the split files of SPLIT_NAMES that exist."""
    return {s: read_split_ids(voc_root, s) for s in SPLIT_NAMES if os.path.isfile(split_path(voc_root, s))}


def make_voc_splits(ids, trainval_percent=0.9, train_percent=0.9, seed=0):
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


def _write_lines_atomically(path, lines):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as f:
            f.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_voc_splits(voc_root, trainval_percent=0.9, train_percent=0.9, seed=0, overwrite=False):
    """Write ``ImageSets/Main/{trainval,train,val,test}.txt`` when none of them exists.

    The split is drawn from the annotation stems with a seeded generator, so the same folder and
    seed give the same files. When any split file exists already nothing is written (unless
    ``overwrite``), so a dataset's own split is never mixed with a generated one. Returns
    ``{split: ids}`` of the split files on disk after the call.
    """
    for name, value in (("trainval_percent", trainval_percent), ("train_percent", train_percent)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    existing = existing_splits(voc_root)
    if existing and not overwrite:
        return existing
    splits = make_voc_splits(list_annotation_ids(voc_root), trainval_percent, train_percent, seed)
    for name, ids in splits.items():
        _write_lines_atomically(split_path(voc_root, name), ids)
    return splits


def annotation_line(sample):
    """The reference's ``2007_train.txt`` line ``path x1,y1,x2,y2,cls ...``: training objects only,
    coordinates truncated to ints as the reference does."""
    boxes, class_ids = training_boxes(sample)
    parts = [sample.image_path]
    for box, class_id in zip(boxes, class_ids):
        parts.append(",".join(str(int(v)) for v in box) + f",{int(class_id)}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# COCO


def load_coco_json(instances_json, image_dir, class_names=None, *, check_images=True, progress=False):
    """Read a COCO ``instances_*.json`` into samples.

    Categories are mapped to contiguous indices in the order of their ids (COCO's 91 ids become
    80 classes); with ``class_names`` given they are mapped by name instead, and categories not
    in it count as unknown classes. Boxes ``[x, y, w, h]`` become ``[x1, y1, x2, y2]``; crowd
    annotations (``iscrowd``) are kept as difficult. Images without annotations are kept as
    background images and reported. Returns ``(samples, report, class_names)``.
    """
    try:
        with open(instances_json, encoding="utf8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"COCO annotation file not found: {instances_json}") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read COCO annotation file {instances_json}: {exc}") from None
    if not isinstance(data, dict) or "images" not in data or "categories" not in data:
        raise DatasetError(f"{instances_json} is not a COCO instances file (needs 'images' and 'categories')")
    categories = sorted(data["categories"], key=lambda c: c["id"])
    category_names = {c["id"]: str(c["name"]) for c in categories}
    if class_names is None:
        class_names = [category_names[c["id"]] for c in categories]
    class_names = list(class_names)
    json_name = os.path.basename(instances_json)

    objects_by_image = collections.defaultdict(list)
    images = {image["id"]: image for image in data["images"]}
    for ann in data.get("annotations", []):
        where = f"{json_name} annotation {ann.get('id', '?')}"
        if ann.get("image_id") not in images:
            report_later = (where, f"refers to unknown image id {ann.get('image_id')!r}; skipped")
            objects_by_image[None].append(report_later)
            continue
        name = category_names.get(ann.get("category_id"), f"category id {ann.get('category_id')}")
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            objects_by_image[None].append((where, "has no valid bbox; skipped"))
            continue
        objects_by_image[ann["image_id"]].append((name, [x, y, x + w, y + h], bool(ann.get("iscrowd", 0))))

    report = DatasetReport(class_counts={name: 0 for name in class_names},
                           difficult_counts={name: 0 for name in class_names})
    for where, message in objects_by_image.pop(None, []):
        report.add_problem(where, message, "bad annotation")
    image_ids = list(images)
    if progress:
        from tqdm import tqdm
        image_ids = tqdm(image_ids, desc="reading images", unit="image")
    samples = []
    for image_id in image_ids:
        image = images[image_id]
        file_name = str(image.get("file_name", ""))
        path = os.path.abspath(os.path.join(image_dir, file_name))
        try:
            width, height = image_size(path, check=check_images)
        except ImageProblem as exc:
            report.add_problem(file_name or str(image_id), f"{exc}; skipped", "bad image")
            report.num_skipped += 1
            continue
        declared = (image.get("width"), image.get("height"))
        if all(declared) and tuple(declared) != (width, height):
            report.add_problem(file_name, f"declared size {declared[0]}x{declared[1]} differs from the "
                               f"image's {width}x{height}; using the image's", "size mismatch")
        objects = objects_by_image.get(image_id, [])
        if not objects:
            report.add_problem(file_name, "no objects; kept as a background image", "no objects")
        boxes, class_ids, difficult = _validated_objects(objects, width, height, class_names, file_name,
                                                         report)
        samples.append(Sample(str(image_id), path, int(width), int(height), boxes, class_ids, difficult))
    report.num_images = len(samples)
    return samples, report, class_names
