"""One row of the benchmark: a model file measured as a user runs it.

* accuracy: mAP@0.5 (VOC) and COCO AP@[.5:.95] on a split, with get_map.py's settings;
* speed: milliseconds per image for the model alone (a letterboxed canvas through the runtime,
  decoding and NMS included) and end to end (the JPEG file read, decoded, letterboxed, detected;
  in the chosen ``--preprocess`` mode and in the exact one), the median of ``runs`` after a
  warm-up, with predict.py's settings;
* start-up: predict.py on one image in a fresh process, from launch to exit, and that process's
  peak resident memory.

A file that cannot be opened or measured gives a row with the reason; the others still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from utils import files, options
from utils.options import PROJECT_ROOT


@dataclass
class Row:
    """What the benchmark prints for one format (None where it was not measured)."""

    format: str
    quantization: str
    file: str | None = None
    size_mb: float | None = None
    map50: float | None = None
    coco_ap: float | None = None
    model_ms: float | None = None
    end_to_end_ms: float | None = None
    end_to_end_exact_ms: float | None = None
    first_result_s: float | None = None
    peak_rss_mb: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """How to open the model files: a ``.h5`` needs backbone, alpha, classes and input size;
    an export brings its own."""

    backbone: str | None
    alpha: float | None
    classes: str | None
    anchors: str | None
    input_size: Any
    preprocess: str = options.default("preprocess")


def open_detector(path: str, spec: ModelSpec, mode: str) -> Any:
    from utils.inference.runtime_detector import load_detector

    return load_detector(
        spec.backbone,
        spec.alpha,
        path,
        classes_path=spec.classes,
        anchors_path=spec.anchors,
        input_size=spec.input_size,
        preprocess=spec.preprocess,
        **options.detection_defaults(mode),
    )


def accuracy(detector: Any, samples: Sequence, class_names: Sequence[str], progress: bool):
    """(mAP@0.5, COCO AP@[.5:.95]) of ``detector`` on ``samples``."""
    from utils.evaluation.evaluate import evaluate_detector

    results = evaluate_detector(
        detector, samples, class_names, metric="both", progress=progress, plots=False
    )
    return float(results["voc"]["0.5"]["mAP"]), float(results["coco"]["stats"][0])


def speed(detector: Any, image_path: str, runs: int) -> tuple[float, float]:
    """(model ms, end-to-end ms): medians of ``runs`` after one warm-up run each, in the
    detector's pre-processing mode."""
    canvas, transform, _ = detector.preprocess(detector.load(image_path))
    detector.run_canvas(canvas, transform)
    model = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.run_canvas(canvas, transform)
        model.append(time.perf_counter() - start)
    detector.detect(detector.load(image_path))
    whole = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(detector.load(image_path))
        whole.append(time.perf_counter() - start)
    return float(np.median(model) * 1000), float(np.median(whole) * 1000)


def first_result(path: str, spec: ModelSpec | None, image_path: str) -> tuple[float, float]:
    """(seconds from launch to exit, peak RSS MB) of predict.py on one image in a fresh
    process (``spec``: the flags of a ``.h5``; None for an export)."""
    path, image_path = os.path.abspath(path), os.path.abspath(image_path)
    command = [sys.executable, os.path.join(PROJECT_ROOT, "predict.py"), "--weights", path]
    if spec is not None:
        command += ["--backbone", str(spec.backbone), "--alpha", str(spec.alpha)]
        command += ["--input-size", "x".join(str(v) for v in _size(spec.input_size))]
        if spec.classes:
            command += ["--classes", os.path.abspath(spec.classes)]
        if spec.anchors:
            command += ["--anchors", os.path.abspath(spec.anchors)]
    with tempfile.TemporaryDirectory(prefix="benchmark_") as work:
        command += ["--source", image_path, "--save-dir", work, "--quiet"]
        # Through a small launcher: a child forked from this process (TensorFlow loaded) would
        # report this process's memory as its own peak.
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *command],
            capture_output=True,
            text=True,
            cwd=work,
        )
    try:
        report = json.loads(launched.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"the launcher failed: {launched.stderr.strip()[-300:]}") from None
    if report["status"] != 0:
        raise RuntimeError(f"predict.py failed: {report['error']}")
    return report["seconds"], report["rss_kb"] / 1024  # Linux reports kilobytes


# Runs a command, then prints its wall time, exit status, peak RSS and last error line as JSON.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
error = child.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "rss_kb": usage.ru_maxrss,
                  "status": os.waitstatus_to_exitcode(status), "error": error}))
"""


def _size(input_size):
    from utils.config import parse_input_size

    return parse_input_size(input_size)


def measure(
    row: Row,
    spec: ModelSpec,
    samples: Sequence,
    class_names: Sequence[str],
    image_path: str,
    runs: int,
    progress: bool = True,
    keras: bool = False,
    with_accuracy: bool = True,
) -> Row:
    """Fill ``row`` (whose ``file`` is set; ``keras``: a weights file, opened with ``spec``) with
    every figure (``with_accuracy`` False: all but mAP); a failure is its ``error``."""
    assert row.file is not None
    try:
        row.size_mb = files.size_mb(row.file)
        detector = open_detector(row.file, spec, "eval")
        runtime = getattr(detector, "runtime", None)
        if runtime is not None:
            row.quantization = runtime.metadata.get("quantization") or "float32"
        if with_accuracy:
            row.map50, row.coco_ap = accuracy(detector, samples, class_names, progress)
        for name, value in options.detection_defaults("predict").items():
            if name != "letterbox":
                setattr(detector, name, value)
        row.model_ms, row.end_to_end_ms = speed(detector, image_path, runs)
        row.end_to_end_exact_ms = row.end_to_end_ms
        if detector.preprocess_mode != "exact":
            detector.preprocess_mode = "exact"
            row.end_to_end_exact_ms = speed(detector, image_path, runs)[1]
        row.first_result_s, row.peak_rss_mb = first_result(
            row.file, spec if keras else None, image_path
        )
    except Exception as exc:  # a row that says why; the other formats still run
        row.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return row
