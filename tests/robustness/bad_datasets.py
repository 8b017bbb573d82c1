"""Small VOC folders and COCO files, each with one kind of annotation problem, for the
robustness table. Every VOC folder holds two raccoon photos (linked from ../shared): raccoon-1
with its real annotation and raccoon-2 with the case's annotation."""

import json
import os
import shutil

from PIL import Image

GOOD_ID, ODD_ID = "raccoon-1", "raccoon-2"


def voc_xml(file_name, size, objects):
    """A VOC annotation: ``objects`` is a list of (class name, (x1, y1, x2, y2))."""
    parts = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{box[0]}</xmin>"
        f"<ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object>"
        for name, box in objects
    )
    return (
        f"<annotation><filename>{file_name}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height><depth>3</depth></size>{parts}</annotation>"
    )


def _box_cases(width, height):
    one = lambda name, box: voc_xml(f"{ODD_ID}.jpg", (width, height), [(name, box)])  # noqa: E731
    return {
        "empty_xml": "",
        "no_objects": voc_xml(f"{ODD_ID}.jpg", (width, height), []),
        "malformed_xml": "<annotation><object><name>raccoon</name>",
        "negative_box": one("raccoon", (-20, -5, 100, 100)),
        "inverted_box": one("raccoon", (100, 100, 50, 50)),
        "zero_area_box": one("raccoon", (50, 50, 50, 90)),
        "outside_box": one("raccoon", (width + 10, 10, width + 50, 50)),
        "unknown_class": one("dragon", (10, 10, 50, 50)),
        "spaces_and_unicode": voc_xml(
            f"{ODD_ID}.jpg",
            (width, height),
            [("traffic light", (10, 10, 50, 50)), ("çağrı ünal", (20, 20, 60, 60))],
        ),
        "missing_image_sets": one("raccoon", (10, 10, 50, 50)),  # voc_annotation writes them
        "no_image_sets": one("raccoon", (10, 10, 50, 50)),  # stays without
        "split_names_missing_image": one("raccoon", (10, 10, 50, 50)),
        "duplicate_ids": one("raccoon", (10, 10, 50, 50)),
    }


def make_voc_cases(folder, images_dir):
    """One VOC folder per case under ``folder``; returns {case: path}."""
    with Image.open(os.path.join(images_dir, ODD_ID + ".jpg")) as image:
        size = image.size
    good_xml = os.path.join(os.path.dirname(images_dir), "Annotations", GOOD_ID + ".xml")
    paths = {}
    for case, odd_xml in _box_cases(*size).items():
        root = os.path.join(folder, case)
        for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
            os.makedirs(os.path.join(root, sub))
        for image_id in (GOOD_ID, ODD_ID):
            os.symlink(
                os.path.join(images_dir, image_id + ".jpg"),
                os.path.join(root, "JPEGImages", image_id + ".jpg"),
            )
        shutil.copy(good_xml, os.path.join(root, "Annotations", GOOD_ID + ".xml"))
        with open(os.path.join(root, "Annotations", ODD_ID + ".xml"), "w", encoding="utf8") as f:
            f.write(odd_xml)
        ids = {
            "split_names_missing_image": [GOOD_ID, ODD_ID, "nope"],
            "duplicate_ids": [GOOD_ID, ODD_ID, ODD_ID],
        }.get(case, [GOOD_ID, ODD_ID])
        with open(os.path.join(root, "ImageSets", "Main", "train.txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))
        if case in ("missing_image_sets", "no_image_sets"):
            shutil.rmtree(os.path.join(root, "ImageSets"))
        paths[case] = root
    # A dataset where nothing is usable.
    root = os.path.join(folder, "nothing_usable")
    for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(root, sub))
    open(os.path.join(root, "Annotations", "a.xml"), "w").close()
    with open(os.path.join(root, "ImageSets", "Main", "train.txt"), "w") as f:
        f.write("a\n")
    paths["nothing_usable"] = root
    return paths


def make_coco_cases(folder, images_dir):
    """COCO instances files for raccoon-1 and raccoon-2 with VOC class names (so the VOC
    weights can evaluate them), one per case; returns {case: path}."""
    sizes = {}
    for image_id in (GOOD_ID, ODD_ID):
        with Image.open(os.path.join(images_dir, image_id + ".jpg")) as image:
            sizes[image_id] = image.size
    base = {
        "images": [
            {
                "id": 1,
                "file_name": f"{GOOD_ID}.jpg",
                "width": sizes[GOOD_ID][0],
                "height": sizes[GOOD_ID][1],
            },
            {
                "id": 7,
                "file_name": f"{ODD_ID}.jpg",
                "width": sizes[ODD_ID][0],
                "height": sizes[ODD_ID][1],
            },
        ],
        # Ids neither contiguous nor in name order.
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 18, "bbox": [10, 10, 100, 80], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [20, 20, 50, 60], "iscrowd": 0},
        ],
    }

    def variant(change):
        data = json.loads(json.dumps(base))
        change(data)
        return json.dumps(data)

    texts = {
        "non_contiguous_ids": json.dumps(base),
        "missing_keys": variant(lambda d: d.pop("images")),
        "wrong_types": variant(lambda d: d.update(annotations="many")),
        "truncated": json.dumps(base)[:60],
        "annotation_of_missing_image": variant(lambda d: d["annotations"][1].update(image_id=99)),
        "image_file_missing": variant(lambda d: d["images"][1].update(file_name="gone.jpg")),
        "malformed_entries": variant(
            lambda d: (
                d["images"].append("junk"),
                d["categories"].append({"name": "cat"}),
                d["annotations"][1].update(bbox=[1, "x"]),
            )
        ),
    }
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for case, text in texts.items():
        paths[case] = os.path.join(folder, case + ".json")
        with open(paths[case], "w") as f:
            f.write(text)
    return paths


# YOLO label lines for raccoon-2, one problem each: {case: label text}; None: no label file.
YOLO_LABELS = {
    "wrong_value_count": "0 0.5 0.5 0.2\n",
    "outside_unit_range": "0 1.5 0.5 0.2 0.2\n",
    "zero_size": "0 0.5 0.5 0 0.2\n",
    "class_beyond_names": "3 0.5 0.5 0.2 0.2\n",
    "non_numeric": "0 left 0.5 0.2 0.2\n",
    "image_without_label": None,
    "label_without_image": "0 0.5 0.5 0.2 0.2\n",
}
GOOD_YAML = "train: images/train\nval: images/train\nnames: [raccoon]\n"
# data.yaml texts that no tool can read.
BAD_YAMLS = {
    "yaml_not_yaml": "names: [raccoon\ntrain: : images/train\n",
    "yaml_without_names": "train: images/train\nval: images/train\n",
    "yaml_missing_folder": "train: images/nope\nval: images/train\nnames: [raccoon]\n",
}


def make_yolo_cases(folder, images_dir):
    """One YOLO dataset (data.yaml, images/train, labels/train) per case under ``folder``, with
    raccoon-1 labelled well and raccoon-2 (or the yaml) carrying the case; returns {case:
    data.yaml path}."""
    paths = {}
    good = "0 0.4 0.5 0.5 0.6\n"
    for case in [*YOLO_LABELS, *BAD_YAMLS]:
        root = os.path.join(folder, case)
        os.makedirs(os.path.join(root, "images", "train"))
        os.makedirs(os.path.join(root, "labels", "train"))
        for image_id in (GOOD_ID, ODD_ID):
            os.symlink(
                os.path.join(images_dir, image_id + ".jpg"),
                os.path.join(root, "images", "train", image_id + ".jpg"),
            )
        labels = os.path.join(root, "labels", "train")
        with open(os.path.join(labels, GOOD_ID + ".txt"), "w") as f:
            f.write(good)
        odd = YOLO_LABELS.get(case, good)
        if odd is not None:
            name = "ghost" if case == "label_without_image" else ODD_ID
            with open(os.path.join(labels, name + ".txt"), "w") as f:
                f.write(odd)
        paths[case] = os.path.join(root, "data.yaml")
        with open(paths[case], "w") as f:
            f.write(
                BAD_YAMLS.get(case, "train: images/train\nval: images/train\nnames: [raccoon]\n")
            )
    return paths
