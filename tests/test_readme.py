"""Every ```python block of README.md runs as a new user would run it.

Each block runs in its own Python process (a fresh namespace, as a user's script), from a
workspace folder laid out as the README assumes the user's working folder to be, made of real
data from ../shared:

* ``yolov4_mobilenet_v1_025_voc.h5``: the reference's VOC weights;
* ``model_data/``: the repository's class and anchor files;
* ``VOCdevkit/VOC2007``: a few raccoon images (train and test splits) from ../shared;
* ``exports/yolov4_lite_mobilenetv1_0.25_416_int8.tflite``: written first by ``export.py``;
* ``$YOLO_LITE_CACHE_DIR`` holding the published file of mobilenetv1 0.25, so that "the
  published VOC weights" are found without a download.

The names a block uses without defining them (``pil_image``, ``images``, ...) come from
:data:`GIVEN`, real images opened as a user would open them (``Image.open``, not decoded).
Where a block trains, :data:`SUBSTITUTIONS` makes it small; each substitution is an exact
string replacement that must apply once, so the test fails when the README changes under it.
A block that needs something outside it gets it from :data:`PRIORS` (run before the block)
and its claims are checked by :data:`CHECKS` (run after it).
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, dataset_ids, shared_path, voc_subset

README = os.path.join(ROOT, "README.md")


def python_blocks(text):
    """``(first line, code)`` of every ```python block of a Markdown text (indented blocks of
    list items included, dedented)."""
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M):
        code = textwrap.dedent(match.group(2))
        blocks.append((code.strip().splitlines()[0], code))
    return blocks


BLOCKS = python_blocks(open(README, encoding="utf8").read())

# Names the blocks use without defining them: what the prose around them says they are.
GIVEN = """
import numpy as np
from PIL import Image

pil_image = Image.open("street.jpg")
image_a = Image.open("VOCdevkit/VOC2007/JPEGImages/raccoon-1.jpg")
image_b = Image.open("VOCdevkit/VOC2007/JPEGImages/raccoon-2.jpg")
# A batch of network inputs: the street photo letterboxed to 416x416, scaled to [0, 1].
from utils.data.images import letterbox_image, load_image

images = np.asarray(letterbox_image(load_image("street.jpg"), (416, 416)), np.float32)[None] / 255
del np, Image, letterbox_image, load_image
"""

# Per block (by its first line): (text in the README, what the test runs instead). Training is
# cut to one short epoch at 160x160 on four images, without the frozen phase.
SUBSTITUTIONS = {
    "from utils.inference import jobs": [],
    "from utils.inference.detector import Detector": [],
    "from utils.inference.detector import Detector\nfrom utils.inference.slicing": [],
    "from utils.inference.runtime_detector import load_detector": [],
    "from nets import register_backbone": [],
    "from utils.data.convert import convert_dataset": [],
    "from nets import yolo_body, load_weights": [],
    # The client talks to the service the block before it starts, on the port it took.
    "import httpx": [('"http://127.0.0.1:8000/v1/detect"', 'service.url + "/v1/detect"')],
    "from nets import yolo_body\nfrom utils.config import load_anchors": [
        (
            'epochs=30, save_dir="logs/raccoon")',
            'epochs=1, save_dir="logs/raccoon", input_size=160, freeze_epochs=0, batch_size=2)',
        ),
    ],
}

# Run before a block: ``register_backbone`` names a module, nets/backbones/mybackbone.py, that
# a user would have written; it is made in the workspace (on nets.backbones' path).
PRIORS = {
    # serve.py started as the README's Serve section starts it (on a free port).
    "import httpx": """
import os

from tests.serving import ServiceProcess

service = ServiceProcess(
    ["--backbone", "mobilenetv1", "--alpha", "0.25", "--quiet",
     "--weights", os.path.abspath("yolov4_mobilenet_v1_025_voc.h5")]
).start()
""",
    "from nets import register_backbone": """
import nets.backbones

nets.backbones.__path__.append("backbones_of_the_user")
""",
}

# Run after a block: what its comments and the prose promise.
CHECKS = {
    # The raccoon photos are not a video: each image is one frame of the tracked run.
    "from utils.inference import jobs": """
import os

assert summary.frames == len(os.listdir("VOCdevkit/VOC2007/JPEGImages")) > 0
assert summary.extra["tracking"]["tracker"] == "bytetrack"
assert summary.lines and summary.lines[-1].startswith("line 1 (0.0,0.5,1.0,0.5): up ")
assert os.listdir("runs")
""",
    "from utils.inference.detector import Detector": """
assert len(detections.scores) > 0, detections
assert len(batch) == 2
assert detector.detect(image_a).class_ids.tolist() == batch[0].class_ids.tolist()
""",
    "from utils.inference.detector import Detector\nfrom utils.inference.slicing": """
assert len(detections) > 0 and sliced.class_names == detector.class_names
assert (detections.boxes[:, 2] > detections.boxes[:, 0]).all()
""",
    "from utils.inference.runtime_detector import load_detector": """
assert len(detections.scores) > 0, detections
voc_classes = open("model_data/voc_classes.txt").read().split()
assert detector.class_names == voc_classes
""",
    "from nets import yolo_body, load_weights": """
assert report.summary().startswith("loaded 157/157 weighted layers"), report.summary()
assert [tuple(p.shape[1:3]) for p in (p5, p4, p3)] == [(13, 13), (26, 26), (52, 52)]
""",
    "from utils.data.convert import convert_dataset": """
import numpy as np

assert dataset.format == "voc" and again.samples and converted.data_format == "yolo"
assert [s.image_id for s in again.samples] == [s.image_id for s in train.samples]
for a, b in zip(train.samples, again.samples):
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
""",
    "from nets import register_backbone": """
from nets import get_backbone, yolo_body

spec = get_backbone("mybackbone", 1.0)
assert spec.pretrained_file(1.0) == "yolov4_mybackbone_voc.h5"
model = yolo_body((64, 64), num_classes=3, backbone="mybackbone", alpha=0.5)
assert [tuple(o.shape[1:]) for o in model.outputs] == [(2, 2, 24), (4, 4, 24), (8, 8, 24)]
""",
    "import httpx": """
found = answer.json()["detections"]
assert found and {d["class"] for d in found} <= {"person", "car"}, found
assert all(d["score"] >= 0.4 for d in found)
assert service.stop() == 0, service.output
""",
    "from nets import yolo_body\nfrom utils.config import load_anchors": """
import os

assert result.epochs_done == 1, result
assert os.path.isfile("logs/raccoon/last.h5")
""",
}

# The module a user writes for a new backbone: strided convolutions giving stride 8, 16 and 32.
USER_BACKBONE = """
import keras


def build(inputs, alpha):
    width = max(int(16 * alpha), 8)
    x = inputs
    features = []
    for _ in range(5):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
        features.append(x)
    return features[2], features[3], features[4]
"""

SLOW = (
    "from utils.inference.runtime_detector import load_detector",  # an int8 export first
    "from nets import yolo_body\nfrom utils.config import load_anchors",  # trains
)


def _key(code):
    """The entry of the tables above that names this block (the longest matching start)."""
    keys = [k for k in SUBSTITUTIONS if code.lstrip().startswith(k)]
    assert keys, f"README block not in the test's tables; add it:\n{code}"
    return max(keys, key=len)


def _params():
    params = []
    for index, (first, code) in enumerate(BLOCKS):
        key = _key(code)
        marks = [pytest.mark.slow] if key in SLOW else []
        params.append(pytest.param(index, code, id=f"{index}-{first}", marks=marks))
    return params


def test_readme_has_the_blocks_the_tables_describe():
    keys = [_key(code) for _, code in BLOCKS]
    assert sorted(set(keys)) == sorted(SUBSTITUTIONS)
    for table in (PRIORS, CHECKS):
        assert set(table) <= set(keys), set(table) - set(keys)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The user's working folder the README's blocks assume (see the module's docstring)."""
    root = tmp_path_factory.mktemp("readme_workspace")
    weights = shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
    os.symlink(weights, root / "yolov4_mobilenet_v1_025_voc.h5")
    os.symlink(shared_path("reference", "street.jpg"), root / "street.jpg")
    os.symlink(os.path.join(ROOT, "model_data"), root / "model_data")
    (root / "cache").mkdir()
    os.symlink(weights, root / "cache" / "yolov4_mobilenet_v1_025_voc.h5")
    train_ids = dataset_ids("raccoon", "train", 4)
    test_ids = dataset_ids("raccoon", "test", 2)
    voc_subset(
        str(root / "VOCdevkit"), "raccoon", {"train": train_ids, "test": test_ids}, "VOC2007"
    )
    (root / "backbones_of_the_user").mkdir()
    (root / "backbones_of_the_user" / "mybackbone.py").write_text(USER_BACKBONE)
    return root


@pytest.fixture(scope="module")
def int8_export(workspace):
    """exports/yolov4_lite_mobilenetv1_0.25_416_int8.tflite, calibrated on the workspace's
    four training images, as the README's export commands write it."""
    path = workspace / "exports" / "yolov4_lite_mobilenetv1_0.25_416_int8.tflite"
    command = [sys.executable, os.path.join(ROOT, "export.py"), "--backbone", "mobilenetv1"]
    command += ["--alpha", "0.25", "--weights", "yolov4_mobilenet_v1_025_voc.h5"]
    command += ["--format", "tflite", "--int8", "--data", "VOCdevkit/VOC2007"]
    command += ["--calib-images", "4", "--no-progress"]
    proc = subprocess.run(command, cwd=workspace, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and path.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return path


def _program(code):
    key = _key(code)
    for old, new in SUBSTITUTIONS[key]:
        assert code.count(old) == 1, f"substitution no longer applies to the README: {old!r}"
        code = code.replace(old, new)
    return "\n".join(
        [
            GIVEN,
            PRIORS.get(key, ""),
            "# ---- the README's block",
            code,
            "# ---- checks",
            CHECKS.get(key, ""),
        ]
    )


@pytest.mark.parametrize("index, code", _params())
def test_readme_block_runs(index, code, workspace, request):
    if "exports/" in code:
        request.getfixturevalue("int8_export")
    script = workspace / f"block_{index}.py"
    script.write_text(_program(code))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        YOLO_LITE_CACHE_DIR=str(workspace / "cache"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    proc = subprocess.run(
        [sys.executable, script.name],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
