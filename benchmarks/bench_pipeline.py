"""Input-pipeline throughput: training images/s with mosaic and mixup, no model attached.

    python benchmarks/bench_pipeline.py            # raccoon train split, 416, batch 8

Prints images/s with mosaic and mixup at probability 0.5 (the defaults) and always on, after a
warm-up, over a fixed number of batches, with the decoded-image cache on and (with --no-cache-run)
off. With --details it also times JPEG decoding through tf.data (tf.io vs OpenCV) and target
assignment (NumPy vs TF ops). The reference implementation's loader gives 86 and 51 images/s on the
same 2-core machine.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from utils.config import load_anchors, parse_input_size
from utils.data import load_voc_split
from utils.data.image_store import decode_image_file
from utils.data.pipeline import build_train_dataset
from utils.data.targets import assign_targets

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "raccoon", "VOC2007")


def images_per_second(dataset, batch_size, warmup, batches):
    """Throughput of iterating `dataset` (repeated, as training does) after `warmup` batches."""
    iterator = iter(dataset.repeat())
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def decode_rates(paths, workers, rounds=3):
    """Images/s decoding the JPEGs in tf.data with tf.io.decode_jpeg and with OpenCV
    (numpy_function)."""

    def tf_decode(path):
        return tf.io.decode_jpeg(tf.io.read_file(path), channels=3)

    def cv2_decode(path):
        return tf.numpy_function(lambda p: decode_image_file(p.decode()), [path], tf.uint8)

    rates = {}
    for name, fn in (("tf.io.decode_jpeg", tf_decode), ("cv2.imdecode", cv2_decode)):
        ds = tf.data.Dataset.from_tensor_slices(paths).map(
            fn, num_parallel_calls=workers, deterministic=False
        )
        for _ in ds:  # warm the file cache
            pass
        start = time.perf_counter()
        for _ in range(rounds):
            for _ in ds:
                pass
        rates[name] = rounds * len(paths) / (time.perf_counter() - start)
    return rates


def _tf_assign(boxes, class_ids, input_size, anchors, num_classes):
    """The same assignment rule in TF ops (for timing only): one image, scatter per level."""
    height, width = input_size
    wh = boxes[:, 2:4] - boxes[:, 0:2]
    inter = tf.reduce_prod(tf.minimum(wh[:, None], anchors[None]), -1)
    iou = inter / (tf.reduce_prod(wh, -1)[:, None] + tf.reduce_prod(anchors, -1)[None] - inter)
    best = tf.argmax(iou, 1, output_type=tf.int32)
    scale = tf.constant([width, height, width, height], tf.float32)
    norm = tf.concat([(boxes[:, 0:2] + boxes[:, 2:4]) / 2, wh], 1) / scale
    rows = tf.concat([norm, tf.ones_like(norm[:, :1]), tf.one_hot(class_ids, num_classes)], 1)
    out = []
    for stride, mask in zip((32, 16, 8), ANCHORS_MASK):
        grid_h, grid_w = height // stride, width // stride
        on_level = tf.where((best >= min(mask)) & (best <= max(mask)))[:, 0]
        sel = tf.gather(norm, on_level)
        col = tf.clip_by_value(tf.cast(sel[:, 0] * grid_w, tf.int32), 0, grid_w - 1)
        row = tf.clip_by_value(tf.cast(sel[:, 1] * grid_h, tf.int32), 0, grid_h - 1)
        slot = tf.gather(best, on_level) - min(mask)
        out.append(
            tf.tensor_scatter_nd_update(
                tf.zeros((grid_h, grid_w, len(mask), 5 + num_classes)),
                tf.stack([row, col, slot], 1),
                tf.gather(rows, on_level),
            )
        )
    return out


def target_costs(samples, input_size, anchors, num_classes, repeats=5):
    """Microseconds per image for NumPy and TF-op target assignment on the dataset's boxes."""
    labels = [(s.boxes.astype(np.float32), s.class_ids.astype(np.int32)) for s in samples]
    start = time.perf_counter()
    for _ in range(repeats):
        for boxes, ids in labels:
            assign_targets(boxes, ids, input_size, anchors, num_classes)
    numpy_us = (time.perf_counter() - start) / (repeats * len(labels)) * 1e6
    tf_fn = tf.function(
        lambda b, c: _tf_assign(b, c, input_size, tf.constant(anchors), num_classes),
        reduce_retracing=True,
    )
    tf_fn(*labels[0])
    start = time.perf_counter()
    for _ in range(repeats):
        for boxes, ids in labels:
            tf_fn(boxes, ids)
    tf_us = (time.perf_counter() - start) / (repeats * len(labels)) * 1e6
    return numpy_us, tf_us


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=DEFAULT_DATA, help="VOC folder (default: ../shared raccoon VOC2007)"
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--classes", nargs="+", default=["raccoon"], help="class names")
    parser.add_argument("--input-size", default="416")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10, help="batches before timing")
    parser.add_argument("--batches", type=int, default=60, help="batches timed")
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel examples (default: CPU count)"
    )
    parser.add_argument(
        "--no-cache-run", action="store_true", help="also time without the image cache"
    )
    parser.add_argument(
        "--details", action="store_true", help="also time decoders and target assignment"
    )
    args = parser.parse_args(argv)

    input_size = parse_input_size(args.input_size)
    anchors = load_anchors()
    samples, report = load_voc_split(args.data, args.split, args.classes)
    if report.problems:
        print(report.format(counts=False))
    num_classes = len(args.classes)
    print(
        f"{len(samples)} images from {args.data} ({args.split}), "
        f"input {input_size[0]}x{input_size[1]}, "
        f"batch {args.batch_size}, {os.cpu_count()} CPUs, "
        f"warm-up {args.warmup}, timed {args.batches} batches"
    )
    runs = [("mosaic 0.5, mixup 0.5", 0.5, 0.5, None), ("mosaic 1.0, mixup 1.0", 1.0, 1.0, None)]
    if args.no_cache_run:
        runs += [(label + ", no cache", m, x, 0) for label, m, x, _ in runs]
    for label, mosaic, mixup, cache_mb in runs:
        kwargs = {} if cache_mb is None else {"cache_mb": cache_mb}
        ds = build_train_dataset(
            samples,
            input_size,
            anchors,
            num_classes,
            args.batch_size,
            mosaic=mosaic,
            mixup=mixup,
            workers=args.workers,
            **kwargs,
        )
        store = ds.image_store
        cache = (
            f"cache {store.cache_bytes / 2**20:.0f} MiB built in {store.cache_seconds:.2f} s"
            if store.cached
            else "no cache"
        )
        rate = images_per_second(ds, args.batch_size, args.warmup, args.batches)
        print(f"{label:32s} {rate:7.1f} images/s   ({cache})")
    if args.details:
        workers = args.workers or os.cpu_count()
        for name, rate in decode_rates([s.image_path for s in samples], workers).items():
            print(f"decode {name:25s} {rate:7.1f} images/s ({workers} parallel)")
        numpy_us, tf_us = target_costs(samples, input_size, anchors, num_classes)
        print(f"targets NumPy {numpy_us:.0f} us/image, TF ops {tf_us:.0f} us/image")


if __name__ == "__main__":
    main()
