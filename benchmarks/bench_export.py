"""Every export format against the Keras model: file size, end-to-end latency and mAP.

For mobilenetv1-0.25 (the VOC weights in ../shared) and ghostnet (random weights: no VOC file
for it in ../shared, so its mAP is not meaningful and is left out), at 416:

* exports SavedModel, TFLite float32 / float16 / int8 (calibrated on the voc_mini images) and
  ONNX with ``utils.export.exporter.export_model``;
* times ``detect`` on street.jpg at predict.py's settings (letterbox + model + decoding + NMS;
  median of ``--runs`` after a warm-up), interleaving the formats so that machine load hits them
  alike;
* measures VOC mAP@0.5 on voc_mini (VOC2007 + VOC2012 test, 9 images) through the same
  evaluation get_map.py runs, for the VOC weights.

    python benchmarks/bench_export.py [--runs 30] [--size 416]
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from nets import yolo_body
from nets.anchors import ANCHORS_MASK
from utils.config import load_anchors, load_class_names
from utils.data import load_voc_split
from utils.data.images import letterbox_image, load_image
from utils.evaluation.evaluate import evaluate_detector
from utils.export.exporter import export_model
from utils.formats import open_runtime
from utils.inference.detector import Detector, load_model
from utils.inference.runtime_detector import RuntimeDetector

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
STREET = os.path.join(SHARED, "reference", "street.jpg")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
VOC_MINI = os.path.join(SHARED, "datasets", "voc_mini", "VOCdevkit")


def voc_mini_samples(names):
    samples = []
    for year in ("VOC2007", "VOC2012"):
        found, _ = load_voc_split(os.path.join(VOC_MINI, year), "test", names, progress=False)
        samples += found
    return samples


def median_ms(detectors, image, runs):
    for detector in detectors.values():
        for _ in range(3):
            detector.detect(image)
    times = {name: [] for name in detectors}
    for _ in range(runs):
        for name, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(image)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(t)) for name, t in times.items()}


def bench(backbone, alpha, weights, size, runs, samples, work):
    names = load_class_names()
    if weights:
        model = load_model(backbone, alpha, weights, len(names), size)
    else:
        model = yolo_body(size, num_classes=len(names), backbone=backbone, alpha=alpha)
    calibration = [
        np.asarray(letterbox_image(load_image(s.image_path, apply_exif=False), size), np.float32)[
            None
        ]
        / 255.0
        for s in samples
    ]
    results = export_model(
        model,
        names,
        load_anchors(),
        ANCHORS_MASK,
        size,
        work,
        ["saved_model", "tflite", "onnx"],
        backbone=backbone,
        alpha=alpha,
        half=True,
        calibration=calibration,
    )
    # Latency at predict.py's settings; mAP at get_map.py's (set below).
    detectors = {"keras (.h5)": Detector(model, names, input_size=size, fuse=True)}
    sizes = {"keras (.h5)": os.path.getsize(weights) / 2**20 if weights else float("nan")}
    for result in results:
        label = f"{result.format} {result.variant}"
        detectors[label] = RuntimeDetector(open_runtime(result.path))
        sizes[label] = result.size_mb
    street = load_image(STREET)
    latency = median_ms(detectors, street, runs)
    rows = []
    for label, detector in detectors.items():
        m_ap = float("nan")
        if weights:
            detector.conf, detector.nms_iou = 0.001, 0.5
            m_ap = evaluate_detector(detector, samples, names, progress=False)["voc"]["0.5"]["mAP"]
        rows.append((f"{backbone}-{alpha:g}", label, sizes[label], latency[label], m_ap))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size", type=int, default=416)
    args = parser.parse_args()
    for path in (STREET, WEIGHTS, VOC_MINI):
        if not os.path.exists(path):
            sys.exit(f"bench_export: {path} is missing (needs ../shared)")
    size = (args.size, args.size)
    samples = voc_mini_samples(load_class_names())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_export_") as work:
        rows += bench(
            "mobilenetv1", 0.25, WEIGHTS, size, args.runs, samples, os.path.join(work, "v1")
        )
        rows += bench(
            "ghostnet", 1.0, None, size, args.runs, samples, os.path.join(work, "ghostnet")
        )
    print(
        f"\nstreet.jpg end to end at {args.size} (median of {args.runs}, batch 1, "
        f"{os.cpu_count()} CPU threads); mAP@0.5 on voc_mini ({len(samples)} images)"
    )
    print(f"{'model':<16} {'format':<20} {'MB':>6} {'ms/image':>9} {'mAP@0.5':>8}")
    for model, label, mb, ms, m_ap in rows:
        m_ap_text = "-" if np.isnan(m_ap) else f"{m_ap:.4f}"
        mb_text = "-" if np.isnan(mb) else f"{mb:.2f}"
        print(f"{model:<16} {label:<20} {mb_text:>6} {ms:>9.1f} {m_ap_text:>8}")


if __name__ == "__main__":
    main()
