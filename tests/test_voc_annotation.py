"""voc_annotation.py: split writing with a seed, per-class counts and problems, clean exits."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared_path

# A few helmet annotations, including one with a wrong declared size (000102).
HELMET_IDS = [f"{i:06d}" for i in range(95, 107)]


def _run(*args):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "voc_annotation.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _helmet_copy(tmp_path, name="VOC2007"):
    source = shared_path("datasets", "helmet", "VOC2007")
    root = tmp_path / name
    for sub in ("Annotations", "JPEGImages"):
        (root / sub).mkdir(parents=True)
    for image_id in HELMET_IDS:
        shutil.copy(os.path.join(source, "Annotations", image_id + ".xml"), root / "Annotations")
        image = image_id + ".jpg"
        os.symlink(os.path.join(source, "JPEGImages", image), root / "JPEGImages" / image)
    classes = tmp_path / "helmet_classes.txt"
    classes.write_text("helmet\nhead\n")
    return root, str(classes)


def _split(root, name):
    return (root / "ImageSets" / "Main" / f"{name}.txt").read_text().split()


def test_help_says_difficult_objects_are_not_training_targets():
    result = _run("--help")
    assert result.returncode == 0
    assert "--trainval-percent" in result.stdout and "--overwrite-splits" in result.stdout
    assert "ifficult" in result.stdout and "training" in result.stdout


def test_writes_seeded_splits_once_and_reports_counts_and_problems(tmp_path):
    root, classes = _helmet_copy(tmp_path / "a")
    result = _run(
        "--data",
        str(root.parent),
        "--classes",
        classes,
        "--seed",
        "3",
        "--max-problems",
        "0",
        "--write-lines",
        str(tmp_path / "lines"),
    )
    assert result.returncode == 0, result.stderr
    splits = {name: _split(root, name) for name in ("trainval", "train", "val", "test")}
    # 12 images: int(12 * 0.9) = 10 trainval, int(10 * 0.9) = 9 train.
    assert {k: len(v) for k, v in splits.items()} == {
        "trainval": 10,
        "train": 9,
        "val": 1,
        "test": 2,
    }
    assert sorted(splits["trainval"] + splits["test"]) == HELMET_IDS
    assert "wrote split files (seed 3)" in result.stdout
    assert "declared size 1920x1088" in result.stdout and "000102.xml" in result.stdout
    assert "<filename> mismatch" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("class "))
    assert header.split() == ["class", "trainval", "train", "val", "test"]
    assert any(line.split()[0] == "helmet" for line in result.stdout.splitlines() if line.strip())

    # The reference's annotation lines: one per image of the split, image path first.
    lines = (tmp_path / "lines" / "2007_train.txt").read_text().splitlines()
    assert len(lines) == 9 and all(os.path.isfile(line.split()[0]) for line in lines)
    assert all(len(box.split(",")) == 5 for line in lines for box in line.split()[1:])

    # Same seed on another copy: the same split. Existing files are kept on a rerun.
    other, _ = _helmet_copy(tmp_path / "b")
    assert _run("--data", str(other), "--classes", classes, "--seed", "3").returncode == 0
    assert _split(other, "train") == splits["train"]
    rerun = _run("--data", str(root), "--classes", classes, "--seed", "4")
    assert rerun.returncode == 0 and "kept the existing split files" in rerun.stdout
    assert _split(root, "train") == splits["train"]
    overwrite = _run(
        "--data",
        str(root),
        "--classes",
        classes,
        "--seed",
        "4",
        "--overwrite-splits",
        "--trainval-percent",
        "0.5",
    )
    assert overwrite.returncode == 0 and len(_split(root, "trainval")) == 6


def test_per_file_problems_do_not_fail_the_run(tmp_path):
    root, classes = _helmet_copy(tmp_path)
    (root / "Annotations" / "000095.xml").write_text("<annotation><object>")
    os.remove(root / "JPEGImages" / "000096.jpg")
    result = _run("--data", str(root), "--classes", classes)
    assert result.returncode == 0, result.stderr
    assert "000095.xml: cannot parse XML" in result.stdout
    assert "000096.xml: image not found" in result.stdout
    assert "10 usable images of 12 annotations" in result.stdout


def test_truncated_image_is_reported_in_a_real_voc_folder():
    root = shared_path("datasets", "voc_mini", "VOCdevkit", "VOC2012")
    result = _run("--data", root)  # split files exist there, so nothing is written
    assert result.returncode == 0, result.stderr
    assert "2007_000027.jpg: image is truncated" in result.stdout


@pytest.mark.parametrize(
    "override, message",
    [
        ({"--data": "/nonexistent/dataset"}, "dataset folder not found"),
        ({"--classes": "/nonexistent/classes.txt"}, "classes file not found"),
        ({"--trainval-percent": "1.5"}, "--trainval-percent must be in [0, 1]"),
    ],
)
def test_unusable_input_exits_with_one_line_error(tmp_path, override, message):
    root, classes = _helmet_copy(tmp_path)
    options = {"--data": str(root), "--classes": classes, **override}
    result = _run(*[part for item in options.items() for part in item])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (root / "ImageSets").exists()
