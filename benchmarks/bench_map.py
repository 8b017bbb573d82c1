"""Time the mAP metrics on a generated VOC-sized case.

The case (seeded) has about 2,000 images, 20 classes, ~2.4 objects per image (some difficult) and
about 100,000 detections: jittered copies of the objects plus random boxes, scores correlated
with quality, i.e. what a model at conf 0.001 produces on VOC07 test (2,151 images, 104,673
detections in the original's real case, which its calculator needs 5.5 s for).

Prints the time of: reading the map_out text files, the VOC metric at IoU 0.5, the VOC metric at
IoU 0.5:0.95 (10 thresholds), and COCOeval (pycocotools).

    python benchmarks/bench_map.py [--images 2000] [--detections 100000] [--repeat 5]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.evaluation.coco import coco_evaluate
from utils.evaluation.map_io import quantize_detections, read_map_out, write_map_out
from utils.evaluation.metrics import EvalData, voc_evaluate, voc_evaluate_many


def make_case(num_images=2000, num_detections=100_000, num_classes=20, seed=0):
    """A seeded :class:`EvalData` with roughly the given numbers of images and detections."""
    rng = np.random.default_rng(seed)
    sizes = np.stack([rng.integers(300, 500, num_images), rng.integers(250, 500, num_images)], 1)
    objects = rng.poisson(2.4, num_images) + 1
    gt_image = np.repeat(np.arange(num_images), objects)
    n_gt = len(gt_image)
    w, h = sizes[gt_image, 0], sizes[gt_image, 1]
    bw = rng.uniform(0.05, 0.8, n_gt) * w
    bh = rng.uniform(0.05, 0.8, n_gt) * h
    x1 = rng.uniform(0, 1, n_gt) * (w - bw)
    y1 = rng.uniform(0, 1, n_gt) * (h - bh)
    gt_boxes = np.round(np.stack([x1, y1, x1 + bw, y1 + bh], 1))
    gt_class = rng.integers(0, num_classes, n_gt)
    gt_difficult = rng.random(n_gt) < 0.1

    # Half the detections are jittered copies of objects (several per object, some with the
    # wrong class), half are random boxes with low scores.
    n_near = num_detections // 2
    src = rng.integers(0, n_gt, n_near)
    jitter = rng.normal(0, 0.12, (n_near, 4)) * np.stack([bw[src], bh[src]] * 2, 1)
    near = gt_boxes[src] + jitter
    near_class = np.where(
        rng.random(n_near) < 0.85, gt_class[src], rng.integers(0, num_classes, n_near)
    )
    near_score = np.clip(rng.beta(4, 2, n_near) - np.abs(jitter).mean(1) / 200, 0.001, 1)
    n_rand = num_detections - n_near
    rand_image = rng.integers(0, num_images, n_rand)
    rw, rh = sizes[rand_image, 0], sizes[rand_image, 1]
    rx = rng.uniform(0, 0.7, n_rand) * rw
    ry = rng.uniform(0, 0.7, n_rand) * rh
    rand = np.stack(
        [
            rx,
            ry,
            rx + rng.uniform(0.05, 0.3, n_rand) * rw,
            ry + rng.uniform(0.05, 0.3, n_rand) * rh,
        ],
        1,
    )
    det_image = np.concatenate([gt_image[src], rand_image])
    det_boxes = np.concatenate([near, rand])
    det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2])
    det_scores = np.concatenate([near_score, rng.beta(1, 8, n_rand) + 0.001])
    det_boxes, det_scores = quantize_detections(det_boxes, det_scores)
    order = np.argsort(det_image, kind="stable")  # rows grouped by image, as files are read
    return EvalData(
        image_ids=[f"{i:06d}" for i in range(num_images)],
        class_names=[f"class{c:02d}" for c in range(num_classes)],
        gt_image=gt_image,
        gt_class=gt_class,
        gt_boxes=gt_boxes,
        gt_difficult=gt_difficult,
        det_image=det_image[order],
        det_class=np.concatenate([near_class, rng.integers(0, num_classes, n_rand)])[order],
        det_scores=det_scores[order],
        det_boxes=det_boxes[order],
        image_sizes=sizes,
    )


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--detections", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="best of N runs")
    parser.add_argument("--no-coco", action="store_true", help="skip the COCOeval timing")
    args = parser.parse_args(argv)

    data = make_case(args.images, args.detections)
    print(
        f"case: {data.num_images} images, {len(data.gt_image)} ground truths "
        f"({int(data.gt_difficult.sum())} difficult), {len(data.det_image)} detections, "
        f"{data.num_classes} classes"
    )

    with tempfile.TemporaryDirectory() as folder:
        write_map_out(folder, data)
        t_read, (read_back, _, _) = best_time(
            lambda: read_map_out(folder, data.class_names), max(1, args.repeat // 2)
        )
    t_voc, result = best_time(lambda: voc_evaluate(data, 0.5), args.repeat)
    assert abs(voc_evaluate(read_back, 0.5)["mAP"] - result["mAP"]) < 1e-12
    print(f"read map_out text files:      {t_read:7.3f} s")
    print(f"VOC mAP@0.5:                  {t_voc:7.3f} s   (mAP {result['mAP'] * 100:.2f}%)")
    print(
        f"read files + VOC mAP@0.5:     {t_read + t_voc:7.3f} s   "
        f"(original: 5.5 s on a real case of this size -> {5.5 / (t_read + t_voc):.0f}x faster)"
    )
    thresholds = np.round(np.arange(0.5, 0.96, 0.05), 2)
    t_range, _ = best_time(lambda: voc_evaluate_many(data, thresholds), max(1, args.repeat // 2))
    print(f"VOC mAP@0.5:0.95 (10 IoUs):   {t_range:7.3f} s")
    if not args.no_coco:
        t_coco, coco = best_time(lambda: coco_evaluate(data), 1)
        print(
            f"COCOeval (pycocotools):       {t_coco:7.3f} s   (AP@[.5:.95] {coco['stats'][0]:.4f})"
        )


if __name__ == "__main__":
    main()
