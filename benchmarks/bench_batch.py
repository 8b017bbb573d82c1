"""Images per second of batched inference, and proof that the mAP does not depend on the batch.

Runs ``evaluate_detector`` (image reading, letterbox, model, decoding, NMS, metrics) of the
mobilenetv1-0.25 VOC weights over a VOC-format split at several batch sizes, with get_map.py's
default settings, and prints images/s and the VOC and COCO mAP of each.

    python benchmarks/bench_batch.py [--data VOC_FOLDER] [--split test] [--batch-sizes 1 8 32]
        [--repeat 20]

The default data is voc_mini's VOC2007 test split (real VOC images, so the VOC weights find
their objects); ``--repeat`` evaluates it several times over for steadier timings.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from utils.config import load_class_names
from utils.data import load_voc_split
from utils.evaluation.evaluate import evaluate_detector
from utils.inference.detector import Detector
from utils.options import detection_defaults

SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.path.join(SHARED, "datasets", "voc_mini", "VOCdevkit", "VOC2007")
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--repeat", type=int, default=1, help="evaluate the split this many times per batch size"
    )
    args = parser.parse_args()
    weights = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
    for path in (args.data, weights):
        if not os.path.exists(path):
            sys.exit(f"bench_batch: {path} is missing (needs ../shared)")
    names = load_class_names()
    samples, _ = load_voc_split(args.data, args.split, names)
    samples = samples * args.repeat
    detector = Detector.from_options("mobilenetv1", 0.25, weights, **detection_defaults("eval"))
    detector.detect_batch([])  # nothing to trace yet: the graph is traced on first use below
    print(
        f"{len(samples)} images of {args.data} ({args.split}), mobilenetv1-0.25 at 416, "
        f"conf {detector.conf}, NMS IoU {detector.nms_iou}"
    )
    for batch_size in args.batch_sizes:
        # The first call per batch size traces nothing new (one graph for all sizes) but warms up.
        evaluate_detector(
            detector, samples[:batch_size], names, progress=False, batch_size=batch_size
        )
        start = time.perf_counter()
        result = evaluate_detector(
            detector, samples, names, progress=False, metric="both", batch_size=batch_size
        )
        seconds = time.perf_counter() - start
        print(
            f"batch {batch_size:3d}: {len(samples) / seconds:6.1f} images/s "
            f"({seconds:.2f} s), VOC mAP@0.5 {result['voc']['0.5']['mAP']:.6f}, "
            f"COCO AP {result['coco']['stats'][0]:.6f}"
        )


if __name__ == "__main__":
    main()
