"""Inference latency per backbone: end-to-end ms per image at 416, batch 1, CPU.

    python benchmarks/bench_predict.py                     # every registered backbone
    python benchmarks/bench_predict.py --backbones ghostnet --runs 50

Random weights (speed does not depend on them). For each variant it builds the model and a
``Detector``, warms up, then times over ``--runs`` calls:

* end to end: ``Detector.detect`` on the decoded photo (letterbox + model + decode + NMS);
* graph: model + decode + NMS on the preprocessed canvas (what the reference's fps mode times);
* model: the network alone on a fixed input tensor, as built and with batch norms folded
  (``Detector(..., fuse=True)``, what predict.py runs).

JPEG decoding of the photo is timed separately. A backbone that fails to build is reported and
skipped. The reference implementation needs 20.5 ms (graph, mobilenetv1-0.25), 51 ms (model,
mobilenetv1-1.0) and 48 ms (model, ghostnet) on the project's 2-core machine.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

from nets import available_backbones, yolo_body
from utils.config import load_class_names, parse_input_size
from utils.data.images import load_image
from utils.inference.detector import Detector

STREET = os.path.join(os.path.dirname(ROOT), "shared", "reference", "street.jpg")


def default_variants():
    """Every registered backbone at alpha 1, plus mobilenetv1 0.25 (the published small one)."""
    return [("mobilenetv1", 0.25)] + [(name, 1.0) for name in available_backbones()]


def time_interleaved(fns, runs):
    """{name: (mean ms, median ms)}, calling the functions in turn so that load from other
    processes on a shared machine hits every measurement alike."""
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {
        name: (float(np.mean(t) * 1000.0), float(np.median(t) * 1000.0))
        for name, t in times.items()
    }


def bench_variant(backbone, alpha, image, input_size, runs, warmup):
    model = yolo_body(input_size, num_classes=20, backbone=backbone, alpha=alpha)
    detector = Detector(model, load_class_names(), input_size=input_size, fuse=True)
    canvas, transform, _ = detector.preprocess(image)
    x = tf.constant(canvas[None], tf.float32) / 255.0
    plain_fn = tf.function(lambda t: model(t, training=False), autograph=False)
    fused_fn = tf.function(lambda t: detector.inference_model(t, training=False), autograph=False)

    def model_only(fn):
        return lambda: [o.numpy() for o in fn(x)]

    for _ in range(warmup):
        detector.detect(image)
        model_only(plain_fn)()
        model_only(fused_fn)()
    result = time_interleaved(
        {
            "end_to_end": lambda: detector.detect(image),
            "graph": lambda: detector.run_canvas(canvas, transform),
            "model": model_only(plain_fn),
            "model_fused": model_only(fused_fn),
            "preprocess": lambda: detector.preprocess(image),
        },
        runs,
    )
    from nets.profile import count_flops

    result["params"] = model.count_params()
    result["gflops"] = count_flops(model) / 1e9
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbones",
        nargs="*",
        default=None,
        help="names or name:alpha (default: every registered backbone)",
    )
    parser.add_argument("--image", default=STREET, help="photo to detect on")
    parser.add_argument("--input-size", default="416")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    input_size = parse_input_size(args.input_size)
    if args.backbones:
        variants = [
            (b.split(":")[0], float(b.split(":")[1]) if ":" in b else 1.0) for b in args.backbones
        ]
    else:
        variants = default_variants()
    start = time.perf_counter()
    image = load_image(args.image)
    decode_ms = (time.perf_counter() - start) * 1000.0
    print(
        f"image {os.path.basename(args.image)} {image.size[0]}x{image.size[1]} "
        f"(JPEG decode {decode_ms:.1f} ms, not included below); input "
        f"{input_size[0]}x{input_size[1]}; {args.runs} runs after {args.warmup} warm-up; "
        f"TF {tf.__version__}; {os.cpu_count()} CPUs"
    )
    header = (
        f"{'backbone':<13}{'alpha':>6}{'params':>12}{'GFLOPs':>8}  {'end-to-end ms':>15}"
        f"{'graph ms':>13}{'model ms':>13}{'folded ms':>13}{'prep ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for backbone, alpha in variants:
        try:
            r = bench_variant(backbone, alpha, image, input_size, args.runs, args.warmup)
        except Exception as exc:
            message = " ".join(str(exc).split())[:150]
            print(f"{backbone:<13}{alpha:>6g}  not available: {type(exc).__name__}: {message}")
            continue
        cells = "".join(
            f"{r[k][0]:>7.1f} /{r[k][1]:>5.1f}"
            for k in ("end_to_end", "graph", "model", "model_fused")
        )
        print(
            f"{backbone:<13}{alpha:>6g}{r['params']:>12,}{r['gflops']:>8.2f}  {cells}"
            f"{r['preprocess'][1]:>9.1f}",
            flush=True,
        )
    print(
        "ms per image, mean / median. end-to-end = letterbox + model + decode + NMS (what "
        "Detector.detect costs); graph = model + decode + NMS; model = network alone, as built "
        "(model) and with batch norms folded (folded, what predict runs); prep = letterbox."
    )


if __name__ == "__main__":
    main()
