"""Writing samples as a VOC, COCO or YOLO dataset (what convert_dataset.py writes).

Every writer takes ``parts`` ({split name: samples}, or {None: samples} for a dataset without
named splits), the class names the samples' ids index, and an :class:`ImagePlacer` that puts
each image in the output once (linked or copied) under a unique stem. Images shared by several
splits (VOC's ``trainval`` and ``train``) are written once and listed by each split.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np
import yaml

from utils.data.samples import Sample

Parts = dict  # {split name or None: [Sample]}


class ImagePlacer:
    """Puts source images into one output folder, each once, under unique stems."""

    def __init__(self, folder: str, copy: bool = False) -> None:
        self.folder = folder
        self.copy = copy
        self._names: dict[str, str] = {}  # source path -> file name in the folder
        self._stems: set[str] = set()
        os.makedirs(folder, exist_ok=True)

    def place(self, sample: Sample) -> str:
        """The image's file name in the folder (linked or copied there on first use)."""
        source = os.path.abspath(sample.image_path)
        if source in self._names:
            return self._names[source]
        stem, ext = os.path.splitext(os.path.basename(source))
        unique, number = stem, 1
        while unique in self._stems:
            number += 1
            unique = f"{stem}_{number}"
        self._stems.add(unique)
        name = unique + ext
        target = os.path.join(self.folder, name)
        if self.copy:
            shutil.copy2(source, target)
        else:
            try:
                os.symlink(os.path.realpath(source), target)
            except OSError:  # no symlinks here (Windows without the right): copy instead
                shutil.copy2(source, target)
        self._names[source] = name
        return name


def _pixel_ints(box):
    """A float box as VOC's whole pixels, at least one pixel wide and high."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def _indent(element, level=0):
    pad = "\n" + "\t" * level
    if len(element):
        element.text = pad + "\t"
        for child in element:
            _indent(child, level + 1)
        child.tail = pad
    if level:
        element.tail = pad


def voc_xml(sample: Sample, file_name: str, class_names: Sequence[str]) -> str:
    """One VOC annotation file's text for a sample."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = file_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", sample.width), ("height", sample.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for box, class_id, hard in zip(sample.boxes, sample.class_ids, sample.difficult):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = class_names[int(class_id)]
        ET.SubElement(obj, "difficult").text = str(int(bool(hard)))
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), _pixel_ints(box)):
            ET.SubElement(bndbox, tag).text = str(value)
    _indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_voc(out: str, parts: Parts, class_names: Sequence[str], copy: bool) -> list[str]:
    """Annotations/, JPEGImages/ and ImageSets/Main/<split>.txt; returns notes for the report."""
    placer = ImagePlacer(os.path.join(out, "JPEGImages"), copy)
    os.makedirs(os.path.join(out, "Annotations"), exist_ok=True)
    written = set()
    for split, samples in parts.items():
        ids = []
        for sample in samples:
            name = placer.place(sample)
            stem = os.path.splitext(name)[0]
            if stem not in written:
                with open(
                    os.path.join(out, "Annotations", stem + ".xml"), "w", encoding="utf8"
                ) as f:
                    f.write(voc_xml(sample, name, class_names))
                written.add(stem)
            ids.append(stem)
        if split is not None:
            _write_lines(os.path.join(out, "ImageSets", "Main", f"{split}.txt"), ids)
    if None in parts:
        return ["the source has no splits: write them with check_dataset.py --write-splits"]
    return []


def coco_instances(samples: Sequence[Sample], names: Sequence[str], class_names) -> dict:
    """A COCO instances dict: image ids from 1 in the samples' order, category ids from 1 in
    the class list's order; a difficult object has ``attributes: {difficult: true}``."""
    images: list[dict] = []
    annotations: list[dict] = []
    for image_id, (sample, file_name) in enumerate(zip(samples, names), start=1):
        images.append(
            {"id": image_id, "file_name": file_name, "width": sample.width, "height": sample.height}
        )
        for box, class_id, hard in zip(sample.boxes, sample.class_ids, sample.difficult):
            x1, y1, x2, y2 = (round(float(v), 3) for v in box)
            annotation = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(class_id) + 1,
                "bbox": [x1, y1, round(x2 - x1, 3), round(y2 - y1, 3)],
                "area": round((x2 - x1) * (y2 - y1), 3),
                "iscrowd": 0,
            }
            if hard:
                annotation["attributes"] = {"difficult": True}
            annotations.append(annotation)
    categories = [
        {"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(class_names)
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(out: str, parts: Parts, class_names: Sequence[str], copy: bool) -> list[str]:
    """images/ and annotations/instances_<split>.json (instances.json beside images/ for a
    dataset without splits)."""
    placer = ImagePlacer(os.path.join(out, "images"), copy)
    for split, samples in parts.items():
        names = [placer.place(s) for s in samples]
        path = (
            os.path.join(out, "instances.json")
            if split is None
            else os.path.join(out, "annotations", f"instances_{split}.json")
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf8") as f:
            json.dump(coco_instances(samples, names, class_names), f)
    return []


def yolo_label_text(sample: Sample) -> str:
    """``class cx cy w h`` lines, normalised to the image, difficult objects left out."""
    lines = []
    for box, class_id, hard in zip(sample.boxes, sample.class_ids, sample.difficult):
        if hard:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        cx, cy = (x1 + x2) / 2 / sample.width, (y1 + y2) / 2 / sample.height
        w, h = (x2 - x1) / sample.width, (y2 - y1) / sample.height
        lines.append(f"{int(class_id)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def write_yolo(out: str, parts: Parts, class_names: Sequence[str], copy: bool) -> list[str]:
    """images/, labels/, a <split>.txt list per split and data.yaml (classes.txt for a dataset
    without splits); difficult objects cannot be marked in YOLO txt, so they are dropped."""
    placer = ImagePlacer(os.path.join(out, "images"), copy)
    os.makedirs(os.path.join(out, "labels"), exist_ok=True)
    dropped: collections.Counter = collections.Counter()
    labelled = set()
    for split, samples in parts.items():
        paths = []
        for sample in samples:
            name = placer.place(sample)
            if name not in labelled:
                stem = os.path.splitext(name)[0]
                with open(os.path.join(out, "labels", stem + ".txt"), "w", encoding="utf8") as f:
                    f.write(yolo_label_text(sample))
                for class_id in np.asarray(sample.class_ids)[np.asarray(sample.difficult, bool)]:
                    dropped[class_names[int(class_id)]] += 1
                labelled.add(name)
            paths.append("./images/" + name)
        if split is not None:
            _write_lines(os.path.join(out, f"{split}.txt"), paths)
    if None in parts:
        _write_lines(os.path.join(out, "classes.txt"), list(class_names))
    else:
        config: dict[str, object] = {split: f"{split}.txt" for split in parts}
        config["names"] = dict(enumerate(class_names))
        with open(os.path.join(out, "data.yaml"), "w", encoding="utf8") as f:
            f.write("# written by convert_dataset.py; paths are relative to this file's folder\n")
            yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
    return [
        f"{count} difficult {name} objects dropped (YOLO txt cannot mark them)"
        for name, count in dropped.items()
    ]


def _write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf8") as f:
        f.write("".join(line + "\n" for line in lines))
