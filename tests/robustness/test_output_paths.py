"""Every tool checks where it will write before it starts (the README's "What happens when
things go wrong"): a save folder, JSON file, ``--out`` or split folder that is a file where a
folder is needed (or the reverse), lies under a file, or is in a place no file can be created
(``/sys``, ``/proc``: even root cannot write there) gives one ``error:`` line naming the flag
and exit status 2, before any model, weights or data is loaded, and writes nothing.

Each row runs the real script as a user does, with TensorFlow and Keras made fatal to import
(a stand-in package on ``PYTHONPATH`` that ends the process with status 86): a run that got as
far as building a model or loading weights could not exit with 2. One row of the robustness
table per case; each run takes a fraction of a second.
"""

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, shared_path

RACCOON = ("datasets", "raccoon", "VOC2007")
MODEL = ["--backbone", "mobilenetv1", "--alpha", "0.25"]
# What importing TensorFlow or Keras does in these runs.
IMPORT_STATUS = 86


def predict(*args):
    return ["predict.py", *MODEL, "--weights", "{weights}", "--source", "{image}", *args]


def get_map(*args):
    return ["get_map.py", *MODEL, "--weights", "{weights}", "--data", "{voc}", *args]


def train(*args):
    return ["train.py", *MODEL, "--data", "{voc}", "--epochs", "1", *args]


def export(*args):
    return ["export.py", *MODEL, "--weights", "{weights}", "--format", "tflite", *args]


def kmeans(*args):
    return ["kmeans_for_anchors.py", "--data", "{voc}", *args]


def annotate(*args):
    return ["voc_annotation.py", "--classes", "model_data/raccoon_classes.txt", *args]


# (case id, argv with {tmp}/{weights}/{voc}/{image} placeholders, the flag the error names).
# In {tmp}: "afile" is a regular file, "folder" a folder, "run/crops" and "run/labels" files,
# "voc_no_splits" a VOC folder (annotations and images of raccoon) whose ImageSets is a file.
CASES = [
    ("predict --save-dir is a file", predict("--save-dir", "{tmp}/afile"), "--save-dir"),
    (
        "predict --save-dir under a file",
        predict("--save-dir", "{tmp}/afile/out"),
        "--save-dir",
    ),
    ("predict --save-dir in /sys", predict("--save-dir", "/sys/yolo_out"), "--save-dir"),
    (
        "predict --save-mot is a folder",
        predict("--save-dir", "{tmp}/out", "--save-mot", "{tmp}/folder"),
        "--save-mot",
    ),
    (
        "predict --save-txt where labels/ is a file",
        predict("--save-dir", "{tmp}/run", "--save-txt"),
        "--save-txt",
    ),
    (
        "predict --json is a folder",
        predict("--save-dir", "{tmp}/out", "--json", "{tmp}/folder"),
        "--json",
    ),
    (
        "predict --json under a file",
        predict("--save-dir", "{tmp}/out", "--json", "{tmp}/afile/results.json"),
        "--json",
    ),
    (
        "predict --crop folder is a file",
        predict("--save-dir", "{tmp}/run", "--crop"),
        "--crop",
    ),
    (
        "predict --mode heatmap --save-dir is a file",
        predict("--mode", "heatmap", "--save-dir", "{tmp}/afile"),
        "--save-dir",
    ),
    ("get_map --out is a file", get_map("--out", "{tmp}/afile"), "--out"),
    ("get_map --out in /proc", get_map("--out", "/proc/map_out"), "--out"),
    (
        "get_map --map-out --out under a file",
        ["get_map.py", "--map-out", "{tmp}/folder", "--out", "{tmp}/afile/map_out"],
        "--out",
    ),
    ("train --save-dir is a file", train("--save-dir", "{tmp}/afile"), "--save-dir"),
    ("train --save-dir in /sys", train("--save-dir", "/sys/logs/run"), "--save-dir"),
    ("export --out is a file", export("--out", "{tmp}/afile"), "--out"),
    ("export --out in /sys", export("--out", "/sys/exports"), "--out"),
    ("kmeans --out is a folder", kmeans("--out", "{tmp}/folder"), "--out"),
    ("kmeans --out in /sys", kmeans("--out", "/sys/anchors.txt"), "--out"),
    (
        "kmeans --plot under a file",
        kmeans("--out", "{tmp}/anchors.txt", "--plot", "{tmp}/afile/anchors.png"),
        "--plot",
    ),
    (
        "voc_annotation --write-lines is a file",
        annotate("--data", "{voc}", "--write-lines", "{tmp}/afile"),
        "--write-lines",
    ),
    (
        "voc_annotation split files under a file",
        annotate("--data", "{tmp}/voc_no_splits"),
        "--data",
    ),
    (
        "convert_dataset --out is a file",
        ["convert_dataset.py", "--data", "{voc}", "--to", "yolo", "--out", "{tmp}/afile"],
        "--out",
    ),
    (
        "convert_dataset --out in /sys",
        ["convert_dataset.py", "--data", "{voc}", "--to", "coco", "--out", "/sys/converted"],
        "--out",
    ),
    (
        "check_dataset --write-splits under a file",
        ["check_dataset.py", "--data", "{tmp}/voc_no_splits", "--write-splits"],
        "--data",
    ),
    (
        "convert_weights --out is a folder",
        [
            "convert_weights.py",
            "--backbone",
            "mnasnet_b1",
            "--checkpoint",
            "{tmp}/model.safetensors",
            "--out",
            "{tmp}/folder",
        ],
        "--out",
    ),
]


@pytest.fixture(scope="module")
def import_guard(tmp_path_factory):
    """A PYTHONPATH folder whose ``tensorflow`` and ``keras`` end the process when imported."""
    guard = tmp_path_factory.mktemp("import_guard")
    for name in ("tensorflow", "keras"):
        (guard / name).mkdir()
        (guard / name / "__init__.py").write_text(f"import os\nos._exit({IMPORT_STATUS})\n")
    return guard


def snapshot(folder):
    """Every entry below ``folder``: files with their size and modification time (a folder's
    own time changes when the check creates and removes its probe file in it)."""
    entries = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs:
            entries[os.path.relpath(os.path.join(root, name), folder)] = "folder"
        for name in names:
            info = os.lstat(os.path.join(root, name))
            entries[os.path.relpath(os.path.join(root, name), folder)] = (
                info.st_size,
                info.st_mtime_ns,
            )
    return entries


def run_script(argv, tmp, import_guard):
    """Run a script (argv with placeholders) from the repository root, TensorFlow and Keras
    made fatal to import."""
    values = {
        "tmp": str(tmp),
        "weights": shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
        "voc": shared_path(*RACCOON),
        "image": shared_path(*RACCOON, "JPEGImages", "raccoon-1.jpg"),
    }
    pythonpath = os.pathsep.join(filter(None, [str(import_guard), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable] + [a.format(**values) for a in argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=pythonpath, YOLO_LITE_OFFLINE="1"),
    )


def make_places(tmp):
    (tmp / "afile").write_text("keep me\n")
    (tmp / "folder").mkdir()
    (tmp / "run").mkdir()
    (tmp / "run" / "crops").write_text("not a folder\n")
    (tmp / "run" / "labels").write_text("not a folder\n")
    (tmp / "model.safetensors").write_bytes(b"never read")
    voc = tmp / "voc_no_splits"
    voc.mkdir()
    for sub in ("Annotations", "JPEGImages"):
        os.symlink(shared_path(*RACCOON, sub), voc / sub)
    (voc / "ImageSets").write_text("not a folder\n")


@pytest.mark.parametrize("case, argv, flag", CASES, ids=[c[0] for c in CASES])
def test_output_path_case(case, argv, flag, tmp_path, import_guard, record_property):
    make_places(tmp_path)
    before = snapshot(tmp_path)
    start = time.monotonic()
    proc = run_script(argv, tmp_path, import_guard)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    passed = (
        proc.returncode == 2
        and "Traceback" not in output
        and len(errors) == 1
        and errors[0].startswith(f"error: {flag} ")
    )
    record_property("robustness", [argv[0], case, passed])
    assert proc.returncode != IMPORT_STATUS, f"TensorFlow or Keras was imported: {output[-2000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert proc.returncode == 2, output[-2000:]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"error: {flag} "), errors[0]
    assert proc.stdout == "", proc.stdout  # nothing started: no model line, no progress
    assert snapshot(tmp_path) == before  # nothing written, no temporary left
    assert seconds < 30, seconds  # about 0.1 s: nothing was loaded (generous for busy CI)


def test_the_import_guard_stops_a_run_that_would_build_a_model(tmp_path, import_guard):
    """The rows above prove "no model was built" only if the guard fires in a run that gets
    that far: the same command with a good --save-dir ends with the guard's status."""
    argv = predict("--save-dir", "{tmp}/out", "--json", "{tmp}/out.json")
    proc = run_script(argv, tmp_path, import_guard)
    assert proc.returncode == IMPORT_STATUS, proc.stdout + proc.stderr
    assert not os.path.exists(tmp_path / "out.json")
