"""Reading and writing the original's ``map_out`` layout.

``ground-truth/<id>.txt``: one ``class left top right bottom [difficult]`` line per object;
``detection-results/<id>.txt``: one ``class score left top right bottom`` line per detection.
Class names may contain spaces: the numbers are taken from the right of each line, as the
original does. A trailing word ``difficult`` marks a difficult object.

Reading never stops at a bad line or file: a
:class:`utils.evaluation.map_out_report.MapOutReport` collects what was wrong
(malformed lines as ``file:line``, missing or orphan detection files, unknown classes, images
without ground truth) and :func:`read_map_out` returns whatever could be used. Only a folder
that cannot be evaluated at all raises :class:`MapOutError`.
"""

import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from nets.errors import UserError
from utils import files
from utils.evaluation.map_out_report import MapOutReport
from utils.evaluation.metrics import EvalData

GT_DIR = "ground-truth"
DET_DIR = "detection-results"


class MapOutError(UserError, ValueError):
    """A map_out folder cannot be evaluated (missing folder, no ground-truth files)."""


# ---------------------------------------------------------------------------------------------
# Parsing lines


def _numbers(tokens):
    """Floats of the tokens, or None when one is not a finite number."""
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def parse_gt_line(line):
    """``class left top right bottom [difficult]`` -> (class, [l, t, r, b], difficult).

    Raises ValueError with the reason when the line cannot be read.
    """
    tokens = line.split()
    difficult = bool(tokens) and tokens[-1] == "difficult"
    if difficult:
        tokens = tokens[:-1]
    if len(tokens) < 5:
        raise ValueError(
            f"expected 'class left top right bottom [difficult]', got {line.strip()!r}"
        )
    box = _numbers(tokens[-4:])
    if box is None:
        raise ValueError(f"coordinates are not numbers: {line.strip()!r}")
    _check_box(box)
    return " ".join(tokens[:-4]), box, difficult


def parse_det_line(line):
    """``class score left top right bottom`` -> (class, score, [l, t, r, b]).

    Raises ValueError with the reason when the line cannot be read.
    """
    tokens = line.split()
    if len(tokens) < 6:
        raise ValueError(f"expected 'class score left top right bottom', got {line.strip()!r}")
    values = _numbers(tokens[-5:])
    if values is None:
        raise ValueError(f"score or coordinates are not numbers: {line.strip()!r}")
    _check_box(values[1:])
    return " ".join(tokens[:-5]), values[0], values[1:]


def _check_box(box):
    if box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"box {' '.join(f'{v:g}' for v in box)} has right < left or bottom < top")


def _read_lines(path, report, label):
    """Non-empty lines with their 1-based numbers, or None (reported) when unreadable."""
    try:
        with open(path, encoding="utf8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        report.unreadable.append((label, f"cannot read ({exc.__class__.__name__}: {exc})"))
        return None
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _txt_ids(folder):
    """Image ids (file stems) of the .txt files in a folder, in os.listdir order."""
    return [
        name[:-4]
        for name in os.listdir(folder)
        if name.endswith(".txt") and os.path.isfile(os.path.join(folder, name))
    ]


# ---------------------------------------------------------------------------------------------
# Reading


def read_map_out(
    map_out_dir: str, class_names: Sequence[str] | None = None
) -> tuple[EvalData, MapOutReport, list[str]]:
    """Read a map_out folder into an :class:`~utils.evaluation.metrics.EvalData`.

    Args:
        map_out_dir: folder holding ``ground-truth/`` and ``detection-results/``.
        class_names: classes to evaluate; objects and detections of other classes are ignored
            and counted. None: the classes found in the ground truth, sorted (as the original).

    Returns:
        ``(data, report, listing_order)``: images are the ground-truth files sorted by name;
        ``listing_order`` is the ground-truth ids in ``os.listdir`` order (only the original's
        COCO converter depends on it).

    Raises:
        MapOutError: a folder is missing, or there is no ground-truth file.
    """
    gt_dir, det_dir = _map_out_folders(map_out_dir)
    listing_order = _txt_ids(gt_dir)
    if not listing_order:
        raise MapOutError(f"{gt_dir}: no ground-truth .txt files")
    image_ids = sorted(listing_order)
    det_ids = set(_txt_ids(det_dir))
    report = MapOutReport()
    report.orphan_detections = sorted(det_ids - set(image_ids))

    # Ground truth: parse everything first, then fix the class list.
    gt_rows, readable = _read_ground_truth(gt_dir, image_ids, report)
    if class_names is None:
        class_names = sorted({row[1] for row in gt_rows})
    class_index = {name: c for c, name in enumerate(class_names)}
    gt = _known_ground_truth(gt_rows, class_index, report)
    has_gt = set(gt.image)
    report.no_ground_truth = [image_ids[i] for i in readable if i not in has_gt]
    det = _read_detections(det_dir, image_ids, readable, det_ids, class_index, report)

    data = _eval_data(image_ids, readable, class_names, gt, det)
    kept_ids = set(data.image_ids)
    return data, report, [i for i in listing_order if i in kept_ids]


def _map_out_folders(map_out_dir):
    """(ground-truth folder, detection-results folder); MapOutError when one is missing."""
    gt_dir = os.path.join(map_out_dir, GT_DIR)
    det_dir = os.path.join(map_out_dir, DET_DIR)
    if not os.path.isdir(map_out_dir):
        raise MapOutError(f"{map_out_dir}: no such folder")
    if not os.path.isdir(gt_dir):
        raise MapOutError(f"{map_out_dir}: has no {GT_DIR}/ folder")
    if not os.path.isdir(det_dir):
        raise MapOutError(f"{map_out_dir}: has no {DET_DIR}/ folder")
    return gt_dir, det_dir


class _GroundTruth(NamedTuple):
    """Objects of known classes, one list entry each."""

    image: list  # image index
    class_id: list
    boxes: list  # [l, t, r, b]
    difficult: list


class _Detections(NamedTuple):
    """Detections of known classes, one array row each."""

    image: np.ndarray  # image index
    class_id: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray  # (N, 4) l, t, r, b


def _read_ground_truth(gt_dir, image_ids, report):
    """``(rows, readable)``: one (image index, class name, box, difficult) row per well-formed
    line, and the indices of the images whose file could be read."""
    rows, readable = [], []
    for index, image_id in enumerate(image_ids):
        label = f"{GT_DIR}/{image_id}.txt"
        lines = _read_lines(os.path.join(gt_dir, image_id + ".txt"), report, label)
        if lines is None:
            continue
        readable.append(index)
        for number, line in lines:
            try:
                name, box, difficult = parse_gt_line(line)
            except ValueError as exc:
                report.malformed.append((f"{label}:{number}", str(exc)))
                continue
            rows.append((index, name, box, difficult))
    return rows, readable


def _known_ground_truth(rows, class_index, report):
    """The objects of classes in ``class_index``; the others are counted as unknown."""
    gt = _GroundTruth([], [], [], [])
    for index, name, box, difficult in rows:
        c = class_index.get(name)
        if c is None:
            report.unknown_gt[name] += 1
            continue
        gt.image.append(index)
        gt.class_id.append(c)
        gt.boxes.append(box)
        gt.difficult.append(difficult)
    return gt


def _read_detections(det_dir, image_ids, readable, det_ids, class_index, report):
    """The detections of known classes on the images whose ground truth could be read.

    All files' lines are converted to numbers in one NumPy call.
    """
    rows = _detection_lines(det_dir, image_ids, readable, det_ids, report)
    names, values = _parse_detection_rows(rows, image_ids, report)
    det_class = _detection_classes(names, class_index, report)
    keep = det_class >= 0
    det_image = np.array([row[0] for row in rows], np.int64).reshape(-1)[keep]
    return _Detections(det_image, det_class[keep], values[keep, 0], values[keep, 1:])


def _detection_lines(det_dir, image_ids, readable, det_ids, report):
    """(image index, line number, text) of every detection line; images without a detection
    file are reported."""
    rows = []
    for index in readable:
        image_id = image_ids[index]
        if image_id not in det_ids:
            report.missing_detections.append(image_id)
            continue
        lines = _read_lines(
            os.path.join(det_dir, image_id + ".txt"), report, f"{DET_DIR}/{image_id}.txt"
        )
        rows.extend((index, number, line) for number, line in lines or ())
    return rows


def _detection_classes(names, class_index, report):
    """The class index of each detection: -1 for a malformed line (name None) and for an
    unknown class (counted)."""
    det_class = np.full(len(names), -1, np.int64)
    for row, name in enumerate(names):
        if name is None:
            continue
        c = class_index.get(name)
        if c is None:
            name = " ".join(name.split())  # class names with inner or leading spaces
            c = class_index.get(name)
        if c is None:
            report.unknown_det[name] += 1
        else:
            det_class[row] = c
    return det_class


def _eval_data(image_ids, readable, class_names, gt, det):
    """The EvalData of the images whose ground-truth file could be read; the others are left
    out entirely (image indices renumbered)."""
    keep = np.zeros(len(image_ids), bool)
    keep[readable] = True
    new_index = np.cumsum(keep) - 1
    return EvalData(
        image_ids=[i for i, k in zip(image_ids, keep) if k],
        class_names=class_names,
        gt_image=new_index[np.asarray(gt.image, np.int64)],
        gt_class=gt.class_id,
        gt_boxes=gt.boxes,
        gt_difficult=gt.difficult,
        det_image=new_index[det.image],
        det_class=det.class_id,
        det_scores=det.scores,
        det_boxes=det.boxes,
    )


def _parse_detection_rows(rows, image_ids, report):
    """Class names (None for a malformed line) and an (N, 5) array of score, l, t, r, b.

    Fast path: one NumPy conversion of every line; only when it fails are lines converted one
    by one. Malformed lines are reported as ``file:line`` with the reason.
    """
    parts = [text.rsplit(None, 5) for _, _, text in rows]
    values = None
    if parts:
        try:
            values = np.array([p[1:] for p in parts], np.float64)
            if values.shape != (len(parts), 5) or min(len(p) for p in parts) != 6:
                values = None
        except ValueError:  # a ragged or non-numeric line somewhere
            values = None
    ok = np.ones(len(parts), bool)
    if values is None:
        values = np.zeros((len(parts), 5))
        for i, p in enumerate(parts):
            numbers = _numbers(p[1:]) if len(p) == 6 else None
            if numbers is None:
                ok[i] = False
            else:
                values[i] = numbers
    ok &= np.isfinite(values).all(axis=1)
    ok &= (values[:, 3] >= values[:, 1]) & (values[:, 4] >= values[:, 2])
    names = [p[0] for p in parts]
    for i in np.flatnonzero(~ok):
        index, number, text = rows[i]
        try:
            parse_det_line(text)
            message = "cannot read line"
        except ValueError as exc:
            message = str(exc)
        report.malformed.append((f"{DET_DIR}/{image_ids[index]}.txt:{number}", message))
        names[i] = None
    return names, values


# ---------------------------------------------------------------------------------------------
# Writing


def format_number(value):
    """Coordinates as the shortest text that reads back to the same float64."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def quantize_detections(boxes, scores):
    """Detections as the files store them: scores rounded to 6 decimals, box coordinates
    truncated to whole pixels like the original's ``int(left)``. Evaluating these arrays gives
    the same numbers as re-reading the written files.
    """
    scores = np.round(np.asarray(scores, np.float64), 6)
    boxes = np.trunc(np.asarray(boxes, np.float64).reshape(-1, 4))
    return boxes, scores


def write_map_out(map_out_dir, data):
    """Write ``data`` as ``ground-truth/`` and ``detection-results/`` text files.

    Every image gets both files (empty when it has nothing), so reading them back gives the
    same images, objects and detections. Each folder is written whole under a temporary name
    and then replaces the previous one, so an interrupted run leaves the old folder or the new
    one, and files of other images from an earlier run cannot creep into a re-evaluation.
    Scores are written with 6 decimals and coordinates as given (use
    :func:`quantize_detections` first to evaluate exactly what is written).
    """
    names = data.class_names
    gt_lines = [[] for _ in data.image_ids]
    for i, c, box, hard in zip(
        data.gt_image.tolist(),
        data.gt_class.tolist(),
        data.gt_boxes.tolist(),
        data.gt_difficult.tolist(),
    ):
        text = " ".join([names[c]] + [format_number(v) for v in box])
        gt_lines[i].append(text + (" difficult" if hard else ""))
    det_lines = [[] for _ in data.image_ids]
    for i, c, s, box in zip(
        data.det_image.tolist(),
        data.det_class.tolist(),
        data.det_scores.tolist(),
        data.det_boxes.tolist(),
    ):
        det_lines[i].append(" ".join([names[c], f"{s:.6f}"] + [format_number(v) for v in box]))
    for folder, lines in ((GT_DIR, gt_lines), (DET_DIR, det_lines)):
        with files.atomic_folder(os.path.join(map_out_dir, folder)) as tmp:
            for image_id, image_lines in zip(data.image_ids, lines):
                _write_text(os.path.join(tmp, image_id + ".txt"), image_lines)


def _write_text(path, lines):
    with open(path, "w", encoding="utf8") as f:
        f.write("".join(line + "\n" for line in lines))
