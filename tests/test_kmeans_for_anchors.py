"""kmeans_for_anchors.py: IoU k-means that is reproducible and writes loadable anchors."""

import os
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT, shared_path
from utils.config import load_anchors
from utils.data.anchors import kmeans_iou, mean_best_iou, wh_iou


def test_kmeans_finds_well_separated_size_clusters():
    rng = np.random.default_rng(0)
    true = np.array([[0.05, 0.1], [0.3, 0.2], [0.7, 0.8]])
    sizes = np.concatenate([c * rng.uniform(0.95, 1.05, (200, 2)) for c in true])
    centers, assignment = kmeans_iou(sizes, k=3, seed=1)
    np.testing.assert_allclose(centers, true, rtol=0.03)  # sorted by area like the true ones
    assert np.array_equal(assignment, np.repeat([0, 1, 2], 200))
    assert mean_best_iou(sizes, centers) > 0.9
    iou = wh_iou(np.array([[2.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 4.0]]))
    np.testing.assert_allclose(iou, [[0.25, 0.5]])


def test_cli_writes_reproducible_anchors_and_plot(tmp_path):
    data = shared_path("datasets", "raccoon")
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.txt"
        result = subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "kmeans_for_anchors.py"),
                "--data",
                data,
                "--out",
                str(out),
                "--input-size",
                "320",
                "--seed",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        assert "mean IoU" in result.stdout
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    anchors = load_anchors(str(tmp_path / "a.txt"))
    areas = anchors[:, 0] * anchors[:, 1]
    assert np.all(np.diff(areas) >= 0) and anchors.max() <= 320 and anchors.min() >= 1
    script = os.path.join(ROOT, "kmeans_for_anchors.py")
    bad = subprocess.run(
        [sys.executable, script, "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert (
        bad.returncode == 2 and "Traceback" not in bad.stderr and "is not a dataset" in bad.stderr
    )
