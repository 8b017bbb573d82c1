"""Every command-line tool against bad input, one row per case, run as a user runs it.

Each case states the command, the expected exit status and a fragment of the one-line message;
any traceback fails it. The terminal summary (``conftest.py``) prints the table's totals per
command.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, shared_path
from tests.robustness.bad_datasets import make_coco_cases, make_voc_cases, make_yolo_cases

RACCOON = ("datasets", "raccoon", "VOC2007")
pytestmark = pytest.mark.slow  # 108 processes: about 110 s on two workers


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """The bad (and odd but valid) inputs, made once."""
    import cv2
    from PIL import Image

    root = tmp_path_factory.mktemp("robustness")
    jpeg = open(shared_path(*RACCOON, "JPEGImages", "raccoon-1.jpg"), "rb").read()
    (root / "zero.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "html.jpg").write_text("<html><body>not an image</body></html>")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(root / "one_pixel.png")
    cv2.imwrite(
        str(root / "sixteen_bit.png"),
        (np.random.default_rng(0).random((64, 80, 3)) * 65535).astype(np.uint16),
    )
    Image.new("CMYK", (64, 48), (0, 128, 0, 0)).save(root / "cmyk.jpg")
    palette = Image.new("P", (64, 48))
    palette.putpalette([i % 256 for i in range(768)])
    palette.save(root / "palette.png", transparency=0)
    frames = [Image.new("RGB", (64, 48), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    photo = Image.open(shared_path(*RACCOON, "JPEGImages", "raccoon-1.jpg"))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    photo.save(root / "exif_rotated.jpg", exif=exif)
    Image.new("L", (20000, 20000)).save(root / "huge.png")
    (root / "no_images").mkdir()
    (root / "no_images" / "notes.txt").write_text("x")
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "self")
    (root / "text.h5").write_text("not a weights file")
    weights = open(shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"), "rb").read()
    (root / "truncated.h5").write_bytes(weights[: len(weights) // 2])
    (root / "empty_classes.txt").write_text("")
    (root / "duplicate_classes.txt").write_text("cat\ndog\ncat\n")
    (root / "one_class.txt").write_text("raccoon\n")
    (root / "anchors_8.txt").write_text(", ".join(["10,13"] * 8))
    (root / "anchors_text.txt").write_text(", ".join(["a,b"] * 9))
    (root / "folder.mp4").mkdir()
    (root / "junk.tflite").write_text("not a model")
    (root / "junk.onnx").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "unreadable.jpg").write_bytes(jpeg)
    os.chmod(root / "unreadable.jpg", 0)
    (root / "unicode_classes.txt").write_text(
        "raccoon\ntraffic light\nçağrı ünal\n", encoding="utf8"
    )
    # MOT files for track_eval.py: a valid MOT15-style ground truth, and broken ones.
    (root / "mot_gt.txt").write_text("1,1,10,10,50,100,1,-1,-1,-1\n2,1,12,10,50,100,1,-1,-1,-1\n")
    (root / "mot_empty.txt").write_text("")
    (root / "mot_short_row.txt").write_text("1,1,10,10,50,100,1,-1,-1,-1\n2,1,12,10\n")
    (root / "mot_det.txt").write_text("1,-1,10,10,50,100,0.9,-1,-1,-1\n")
    images = shared_path(*RACCOON, "JPEGImages")
    make_voc_cases(root / "voc", images)
    make_coco_cases(root / "coco", images)
    make_yolo_cases(root / "yolo", images)
    _save_keras_models(root)
    return root


def _save_keras_models(root):
    """The VOC model as a whole-model ``.keras`` file, as a Keras user would save it."""
    from nets import load_weights, yolo_body

    model = yolo_body((416, 416), num_classes=20, alpha=0.25)
    load_weights(model, weights())
    model.save(root / "model.keras")


def weights():
    return shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")


MODEL = ["--backbone", "mobilenetv1", "--alpha", "0.25"]
ONE = "{files}/one_pixel.png"  # a valid image, for the cases about everything else


def predict(*args):
    return ["predict.py", *MODEL, *args]


def with_weights(*args):
    return predict("--weights", "{weights}", *args)


# Images given to predict.py with working weights: (file, exit status, message fragment).
IMAGES = [
    ("zero.jpg", 2, "not an image file"),
    ("truncated.jpg", 2, "truncated"),
    ("html.jpg", 2, "not an image file"),  # HTML saved as .jpg
    ("huge.png", 2, "decompression bomb"),  # 20000 x 20000
    ("missing.jpg", 2, "no such file"),
    ("no_images", 2, "no image files"),  # a folder without images
    ("loop", 2, "no image files"),  # a folder holding a symlink loop
    ("one_pixel.png", 0, "results ->"),
    ("sixteen_bit.png", 0, "results ->"),
    ("cmyk.jpg", 0, "results ->"),
    ("palette.png", 0, "results ->"),  # palette with transparency
    ("animated.gif", 0, "results ->"),
    ("exif_rotated.jpg", 0, "results ->"),
    ("unreadable.jpg", 2, "ermission denied"),  # no read permission (skipped as root)
]


def annotate(case, *args):
    return [
        "voc_annotation.py",
        "--data",
        "{files}/voc/" + case,
        "--classes",
        "{files}/one_class.txt",
        *args,
    ]


def coco(case):
    return [
        "get_map.py",
        *MODEL,
        "--weights",
        "{weights}",
        "--data",
        "{files}/coco/" + case + ".json",
        "--coco-images",
        "{images}",
        "--no-progress",
    ]


# VOC folders with one problem each, read by voc_annotation.py: (case, exit status, fragment).
ANNOTATIONS = [
    ("empty_xml", 0, "cannot parse XML"),
    ("no_objects", 0, "no objects; kept as a background image"),
    ("malformed_xml", 0, "cannot parse XML"),
    ("negative_box", 0, "extends outside the 800x573 image; clipped"),
    ("inverted_box", 0, "is empty or inverted"),
    ("zero_area_box", 0, "is empty or inverted"),
    ("outside_box", 0, "has no area inside the 800x573 image; dropped"),
    ("unknown_class", 0, "unknown class 'dragon': 1 objects skipped"),
    ("missing_image_sets", 0, "wrote split files"),
    ("split_names_missing_image", 0, "lists nope, which has no annotation file"),
    ("duplicate_ids", 0, "id raccoon-2 listed more than once; read once"),
    ("nothing_usable", 1, "no usable image"),
]

# COCO files evaluated by get_map.py with the VOC weights: (case, exit status, fragment).
COCO = [
    ("missing_keys", 2, "needs 'images' and 'categories'"),
    ("wrong_types", 2, "'annotations' must be a list"),
    ("truncated", 2, "cannot read COCO annotation file"),
    ("non_contiguous_ids", 0, "2 classes with ground truth"),
    ("annotation_of_missing_image", 0, "refers to unknown image id 99; skipped"),
    ("image_file_missing", 0, "gone.jpg: image file not found; skipped"),
    ("malformed_entries", 0, "has no id; skipped"),
]

# YOLO datasets read by check_dataset.py: (case, exit status, fragment). Bad lines and files
# are reported with the file's name and skipped; a data.yaml that cannot be read is one error.
YOLO = [
    ("wrong_value_count", 0, "raccoon-2.txt: line 1: 4 values, expected 5"),
    ("outside_unit_range", 0, "raccoon-2.txt: line 1: coordinates 1.5 0.5 0.2 0.2 outside 0..1"),
    ("zero_size", 0, "raccoon-2.txt: line 1: box has zero size"),
    ("class_beyond_names", 0, "raccoon-2.txt: line 1: class id 3 is beyond names (0..0)"),
    ("non_numeric", 0, "raccoon-2.txt: line 1: non-numeric value"),
    ("image_without_label", 0, "raccoon-2.jpg: no label file; kept as a background image"),
    ("label_without_image", 0, "ghost.txt: label file without an image"),
    ("yaml_not_yaml", 2, "data.yaml is not valid YAML (line 2)"),
    ("yaml_without_names", 2, "data.yaml has no 'names'"),
    ("yaml_missing_folder", 2, "'train' points at images/nope, which does not exist"),
]


def check_yolo(case):
    return ["check_dataset.py", "--data", "{files}/yolo/" + case + "/data.yaml"]


# (case id, argv with {files}/{weights}/{voc} placeholders, exit status, message fragment)
CASES = (
    [
        (f"predict image {name}", with_weights("--source", "{files}/" + name), status, fragment)
        for name, status, fragment in IMAGES
    ]
    + [
        (f"voc_annotation {case.replace('_', ' ')}", annotate(case), status, fragment)
        for case, status, fragment in ANNOTATIONS
    ]
    + [
        (f"get_map COCO {case.replace('_', ' ')}", coco(case), status, fragment)
        for case, status, fragment in COCO
    ]
    + [
        (f"check_dataset YOLO {case.replace('_', ' ')}", check_yolo(case), status, fragment)
        for case, status, fragment in YOLO
    ]
    + [
        (
            "predict tiles that are no input size",
            ["predict.py", *MODEL, "--slice", "7"],
            2,
            "--slice: input size must be a positive multiple of 32, got 7x7",
        ),
        (
            "predict sliced fps",
            ["predict.py", *MODEL, "--slice", "320", "--mode", "fps"],
            2,
            "--slice works with --mode predict, not fps",
        ),
        (
            "get_map tiles overlapping entirely",
            ["get_map.py", *MODEL, "--data", "{voc}", "--slice", "320", "--slice-overlap", "1"],
            2,
            "--slice-overlap must be in [0, 1)",
        ),
        (
            "train on a data.yaml without names",
            ["train.py", *MODEL, "--data", "{files}/yolo/yaml_without_names/data.yaml"],
            2,
            "data.yaml has no 'names'",
        ),
        (
            "get_map on a YOLO split that does not exist",
            [
                "get_map.py",
                *MODEL,
                "--data",
                "{files}/yolo/zero_size/data.yaml",
                "--split",
                "test",
            ],
            2,
            "has no split 'test' (splits: train, val)",
        ),
        (
            "convert to an unknown format",
            ["convert_dataset.py", "--data", "{voc}", "--to", "kitti", "--out", "{out}/k"],
            2,
            "unknown dataset format 'kitti'",
        ),
    ]
    + [
        # ------------------------------------------------------------------ annotations, other
        # tools
        (
            "voc_annotation class names with spaces and unicode",
            [
                "voc_annotation.py",
                "--data",
                "{files}/voc/spaces_and_unicode",
                "--classes",
                "{files}/unicode_classes.txt",
            ],
            0,
            "2 images, 3 objects",
        ),
        (
            "train on a split with no usable image",
            [
                "train.py",
                *MODEL,
                "--data",
                "{files}/voc/nothing_usable",
                "--classes",
                "{files}/one_class.txt",
            ],
            2,
            "no usable images",
        ),
        (
            "train without ImageSets",
            [
                "train.py",
                *MODEL,
                "--data",
                "{files}/voc/no_image_sets",
                "--classes",
                "{files}/one_class.txt",
            ],
            2,
            "write them with check_dataset.py --write-splits",
        ),
        (
            "kmeans on too few boxes",
            ["kmeans_for_anchors.py", "--data", "{files}/voc/no_objects"],
            2,
            "need at least 9 boxes",
        ),
        # ------------------------------------------------------------------ weights and model files
        (
            "predict text file named .h5",
            predict("--weights", "{files}/text.h5", "--source", ONE),
            2,
            "text.h5",
        ),
        (
            "predict truncated .h5",
            predict("--weights", "{files}/truncated.h5", "--source", ONE),
            2,
            "truncated.h5",
        ),
        (
            "predict missing weights",
            predict("--weights", "{files}/none.h5", "--source", ONE),
            2,
            "none.h5",
        ),
        (
            "predict weights of another width",
            [
                "predict.py",
                "--backbone",
                "mobilenetv1",
                "--alpha",
                "0.5",
                "--weights",
                "{weights}",
                "--source",
                ONE,
            ],
            2,
            "alpha",
        ),
        (
            "predict weights of another class count",
            with_weights("--classes", "{files}/one_class.txt", "--source", ONE),
            2,
            "class",
        ),
        (
            "predict weights of another backbone",
            [
                "predict.py",
                "--backbone",
                "mobilenetv2",
                "--alpha",
                "0.5",
                "--weights",
                "{weights}",
                "--source",
                ONE,
            ],
            2,
            "likely backbone mobilenetv1 with alpha 0.25",
        ),
        (
            "predict whole-model .keras file",
            predict("--weights", "{files}/model.keras", "--source", ONE),
            0,
            "(keras)",
        ),
        (
            ".keras file of another width",
            [
                "predict.py",
                "--backbone",
                "mobilenetv1",
                "--alpha",
                "0.5",
                "--weights",
                "{files}/model.keras",
                "--source",
                ONE,
            ],
            2,
            "does not fit the model mobilenetv1 alpha 0.5",
        ),
        (
            "predict corrupt .tflite",
            predict("--weights", "{files}/junk.tflite", "--source", ONE),
            2,
            "not a readable TFLite model",
        ),
        (
            "predict corrupt .onnx",
            predict("--weights", "{files}/junk.onnx", "--source", ONE),
            2,
            "not a readable ONNX model",
        ),
        # ------------------------------------------------------------------ class and anchor files
        (
            "predict empty class file",
            with_weights("--classes", "{files}/empty_classes.txt", "--source", ONE),
            2,
            "empty_classes.txt",
        ),
        (
            "predict duplicate class names",
            with_weights("--classes", "{files}/duplicate_classes.txt", "--source", ONE),
            2,
            "cat",
        ),
        (
            "predict 8 anchors",
            with_weights("--anchors", "{files}/anchors_8.txt", "--source", ONE),
            2,
            "anchors_8.txt",
        ),
        (
            "predict non-numeric anchors",
            with_weights("--anchors", "{files}/anchors_text.txt", "--source", ONE),
            2,
            "anchors_text.txt",
        ),
        # ------------------------------------------------------------------ flags
        ("predict conf above 1", with_weights("--conf", "1.5", "--source", ONE), 2, "--conf"),
        ("predict conf NaN", with_weights("--conf", "nan", "--source", ONE), 2, "--conf"),
        (
            "predict negative NMS IoU",
            with_weights("--nms-iou", "-1", "--source", ONE),
            2,
            "--nms-iou",
        ),
        (
            "predict input size not a multiple of 32",
            with_weights("--input-size", "100", "--source", ONE),
            2,
            "32",
        ),
        (
            "predict video path that is a folder",
            with_weights("--source", "{files}/folder.mp4"),
            2,
            "folder.mp4",
        ),
        ("predict absent camera", with_weights("--source", "7"), 2, "camera"),
        (
            "predict glob matching no image",
            with_weights("--source", "{files}/*.nothing"),
            2,
            "matches no image files",
        ),
        (
            "predict list naming a missing image",
            with_weights("--source", "{files}/anchors_8.txt"),
            2,
            "which does not exist",
        ),
        (
            "predict stream that never opens",
            with_weights("--source", "http://127.0.0.1:9/none.mjpg"),
            2,
            "cannot open the stream",
        ),
        (
            "predict unknown tracker",
            with_weights("--track", "deepsort", "--source", ONE),
            2,
            "--track",
        ),
        (
            "predict line of three numbers",
            with_weights("--line", "1,2,3", "--source", ONE),
            2,
            "--line",
        ),
        (
            "predict line fraction above 1",
            with_weights("--line", "0.0,0.5,1.5,0.5", "--source", ONE),
            2,
            "--line",
        ),
        (
            "predict zone of two points",
            with_weights("--zone", "0,0,5,5", "--source", ONE),
            2,
            "--zone",
        ),
        (
            "predict track buffer NaN",
            with_weights("--track-buffer", "nan", "--source", ONE),
            2,
            "--track-buffer",
        ),
        (
            "predict image above --max-pixels",
            with_weights("--max-pixels", "100000", "--source", "{files}/exif_rotated.jpg"),
            2,
            "megapixels, above the limit of 0.1",
        ),
        (
            "predict --max-pixels 0",
            with_weights("--max-pixels", "0", "--source", ONE),
            2,
            "--max-pixels",
        ),
        # Absurd values the checks accept must still run.
        (
            "predict batch 10**12, most boxes",
            with_weights(
                "--batch-size",
                "1000000000000",
                "--max-boxes",
                "10000",
                "--source",
                "{files}/voc/no_objects/JPEGImages",
            ),
            0,
            "results ->",
        ),
        (
            "predict more boxes than NMS can keep",
            with_weights("--max-boxes", "10001", "--source", ONE),
            2,
            "--max-boxes",
        ),
        (
            "get_map batch 10**12",
            [
                "get_map.py",
                *MODEL,
                "--weights",
                "{weights}",
                "--data",
                "{files}/voc/no_objects",
                "--split",
                "train",
                "--batch-size",
                "1000000000000",
                "--no-progress",
            ],
            0,
            "results ->",
        ),
        (
            "voc_annotation images above --max-pixels",
            annotate("no_objects", "--max-pixels", "1000"),
            1,
            "above the limit",
        ),
        (
            "get_map conf NaN",
            ["get_map.py", *MODEL, "--data", "{voc}", "--conf", "nan"],
            2,
            "--conf",
        ),
        (
            "get_map batch size 0",
            ["get_map.py", *MODEL, "--data", "{voc}", "--batch-size", "0"],
            2,
            "--batch-size",
        ),
        (
            "get_map missing dataset",
            ["get_map.py", *MODEL, "--data", "{files}/nowhere"],
            2,
            "not found",
        ),
        ("train epochs 0", ["train.py", *MODEL, "--data", "{voc}", "--epochs", "0"], 2, "--epochs"),
        (
            "train batch size 0",
            ["train.py", *MODEL, "--data", "{voc}", "--batch-size", "0"],
            2,
            "--batch-size",
        ),
        (
            "train negative learning rate",
            ["train.py", *MODEL, "--data", "{voc}", "--lr", "-1"],
            2,
            "--lr",
        ),
        (
            "train mosaic NaN",
            ["train.py", *MODEL, "--data", "{voc}", "--mosaic", "nan"],
            2,
            "--mosaic",
        ),
        (
            "train absurd input size",
            ["train.py", *MODEL, "--data", "{voc}", "--input-size", "100000"],
            2,
            "above 4096",
        ),
        (
            "export unknown format",
            ["export.py", *MODEL, "--weights", "{weights}", "--format", "caffe"],
            2,
            "caffe",
        ),
        (
            "export int8 without calibration images",
            ["export.py", *MODEL, "--weights", "{weights}", "--format", "tflite", "--int8"],
            2,
            "--int8 needs calibration images",
        ),
        (
            "train multi-worker without TF_CONFIG",
            ["train.py", *MODEL, "--data", "{voc}", "--distribute", "multiworker"],
            2,
            "TF_CONFIG",
        ),
        (
            "kmeans 0 anchors",
            ["kmeans_for_anchors.py", "--data", "{voc}", "-k", "0"],
            2,
            "--num-anchors",
        ),
        ("summary unknown backbone", ["summary.py", "--backbone", "resnet9000"], 2, "resnet9000"),
        (
            "voc_annotation missing folder",
            ["voc_annotation.py", "--data", "{files}/nowhere"],
            2,
            "not found",
        ),
        # ------------------------------------------------------------------ MOT files
        (
            "track_eval missing ground truth",
            ["track_eval.py", "--gt", "{files}/none.txt", "--pred", "{files}/mot_gt.txt"],
            2,
            "none.txt: file not found",
        ),
        (
            "track_eval empty results",
            ["track_eval.py", "--gt", "{files}/mot_gt.txt", "--pred", "{files}/mot_empty.txt"],
            2,
            "mot_empty.txt: empty",
        ),
        (
            "track_eval row of 4 values",
            ["track_eval.py", "--gt", "{files}/mot_short_row.txt", "--pred", "{files}/mot_gt.txt"],
            2,
            "mot_short_row.txt, line 2: 4 values",
        ),
        (
            "track_eval detections given as results",
            ["track_eval.py", "--gt", "{files}/mot_gt.txt", "--pred", "{files}/mot_det.txt"],
            2,
            "is it a detections file",
        ),
        (
            "track_eval unknown tracker",
            ["track_eval.py", "--det", "{files}/mot_det.txt", "--tracker", "kalman9"],
            2,
            "kalman9",
        ),
        (
            "track_eval ground truth as its own results",
            ["track_eval.py", "--gt", "{files}/mot_gt.txt", "--pred", "{files}/mot_gt.txt"],
            0,
            "100.0",
        ),
        (
            "track_eval a tracker on one detection",
            ["track_eval.py", "--det", "{files}/mot_det.txt", "--gt", "{files}/mot_gt.txt"],
            0,
            "MOTA",
        ),
    ]
)


@pytest.mark.parametrize("case, argv, status, fragment", CASES, ids=[c[0] for c in CASES])
def test_case(case, argv, status, fragment, files, tmp_path, record_property):
    if "unreadable" in case and os.geteuid() == 0:
        pytest.skip("root reads files without read permission")
    values = {
        "files": str(files),
        "weights": weights(),
        "voc": shared_path(*RACCOON),
        "images": shared_path(*RACCOON, "JPEGImages"),
        "out": str(tmp_path),
    }
    command = [sys.executable] + [a.format(**values) for a in argv]
    if argv[0] == "predict.py":
        command += ["--save-dir", str(tmp_path / "out"), "--json", str(tmp_path / "out.json")]
    if argv[0] in ("get_map.py",):
        command += ["--out", str(tmp_path / "map_out")]
    if argv[0] in ("train.py",):
        command += ["--save-dir", str(tmp_path / "run")]
    proc = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, YOLO_LITE_OFFLINE="1"),
    )
    record_property(
        "robustness",
        [argv[0], case, proc.returncode == status and "Traceback" not in proc.stderr + proc.stdout],
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == status, proc.stdout[-1500:] + proc.stderr[-1500:]
    text = proc.stdout + proc.stderr
    assert fragment in text, text[-2000:]
    if status == 2:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, proc.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
