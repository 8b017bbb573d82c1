"""Validated dataset samples: what the VOC and COCO readers return, and the checks they share.

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
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from nets.errors import UserError
from utils.data.images import DATASET_IMAGE_EXTENSIONS, pixel_limit_problem

# Bytes at the end of a JPEG searched first for the end-of-image marker. Trailing junk after the
# marker is legal; when more junk than this follows, the whole scan is searched.
_JPEG_TAIL_BYTES = 1 << 16


class DatasetError(UserError, ValueError):
    """A dataset cannot be read at all (missing folder, split file or json)."""


@dataclasses.dataclass
class Sample:
    """One image and its objects, validated against the image file."""

    image_id: str  # the image's file stem (COCO: its id as str where stems repeat)
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
        """All problems in file order when they fit, else the first few of each kind, rare kinds
        first."""
        if max_problems is None or len(self.problems) <= max_problems:
            return [f"  {file}: {message}" for file, message in self.problems]
        per_kind = max(1, max_problems // len(self.problem_kinds))
        lines: list[str] = []
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
        lines = [
            f"{self.num_images} images, {self.num_objects} objects"
            + (f", {self.num_skipped} skipped" if self.num_skipped else "")
        ]
        if counts and self.class_counts:
            width = max(len("class"), *(len(name) for name in self.class_counts))
            lines.append(f"  {'class':<{width}}  {'objects':>8}  {'difficult':>9}")
            for name, count in self.class_counts.items():
                lines.append(
                    f"  {name:<{width}}  {count:>8}  {self.difficult_counts.get(name, 0):>9}"
                )
        for name, count in self.unknown_classes.most_common():
            lines.append(
                f"  unknown class {name!r}: {count} objects skipped "
                f"(first in {self.unknown_examples.get(name, '?')})"
            )
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
    return (
        np.asarray(sample.boxes, np.float32).reshape(-1, 4)[keep],
        np.asarray(sample.class_ids, np.int32)[keep],
    )


# ---------------------------------------------------------------------------------------------
# Images


class ImageProblem(UserError, ValueError):
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
            problem = pixel_limit_problem(width, height)
            if problem:
                raise ImageProblem(problem)
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
    """{stem: file name} for the image files in a folder, in DATASET_IMAGE_EXTENSIONS' order of
    preference."""
    rank = {ext: i for i, ext in enumerate(DATASET_IMAGE_EXTENSIONS)}
    found: dict[str, str] = {}
    try:
        names = os.listdir(image_dir)
    except OSError:
        return found
    for name in sorted(names):
        stem, ext = os.path.splitext(name)
        ext = ext.lower()
        if ext in rank and (
            stem not in found or rank[ext] < rank[os.path.splitext(found[stem])[1].lower()]
        ):
            found[stem] = name
    return found


# ---------------------------------------------------------------------------------------------
# Boxes


def _clip_boxes(boxes, width, height):
    """Clip (N, 4) boxes to the image. Returns clipped boxes, mask of boxes kept, mask of boxes
    moved."""
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
    kept = [(box, index[name], hard) for name, box, hard in objects if name in index]
    for name, _, _ in objects:
        if name not in index:
            report.count_unknown(name, file)
    boxes = np.asarray([box for box, _, _ in kept], np.float32).reshape(-1, 4)
    class_ids = np.asarray([class_id for _, class_id, _ in kept], np.int32)
    difficult = np.asarray([hard for _, _, hard in kept], bool)
    if len(boxes):
        clipped, kept, moved = _clip_boxes(boxes, width, height)
        for i in np.flatnonzero(moved & kept):
            report.add_problem(
                file,
                f"{class_names[class_ids[i]]} box {_fmt_box(boxes[i])} extends "
                f"outside the {width}x{height} image; clipped",
                "box clipped",
            )
        for i in np.flatnonzero(~kept):
            x1, y1, x2, y2 = boxes[i]
            why = (
                "is empty or inverted (xmax <= xmin or ymax <= ymin)"
                if x2 <= x1 or y2 <= y1
                else f"has no area inside the {width}x{height} image"
            )
            report.add_problem(
                file,
                f"{class_names[class_ids[i]]} box {_fmt_box(boxes[i])} {why}; dropped",
                "box dropped",
            )
        boxes, class_ids, difficult = clipped[kept], class_ids[kept], difficult[kept]
    report.count_objects(class_names, class_ids, difficult)
    return boxes, class_ids, difficult
