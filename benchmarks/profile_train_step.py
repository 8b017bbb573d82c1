"""Where a training step's time goes: forward, loss, backward, optimizer update, input pipeline.

Times, on one fixed raccoon batch (so the input pipeline is measured separately), each part as
its own traced ``tf.function``, median of ``--runs`` calls after a warm-up:

* forward pass (``training=True``);
* forward + YOLO loss (target boxes, ignore mask, CIoU, BCE);
* forward + loss + gradients;
* the whole step (gradients + Adam update), as ``YoloTrainer.train_step`` runs it;
* the training ``tf.data`` pipeline alone (mosaic/mixup 0.5), batches per second.

    python benchmarks/profile_train_step.py [--size 416] [--batch 8] [--alpha 0.25] [--frozen]
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf

from nets import load_weights, yolo_body
from nets.loss import YoloLoss
from utils.config import load_anchors
from utils.data import (
    load_voc_split,
    pipeline,
)
from utils.training.model_setup import set_backbone_frozen
from utils.training.optimizer import build_optimizer

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RACCOON = os.path.join(SHARED, "datasets", "raccoon", "VOC2007")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")


def median_ms(function, runs):
    function()  # trace
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, result)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--frozen", action="store_true", help="backbone frozen")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the traced functions")
    parser.add_argument("--bf16", action="store_true", help="mixed_bfloat16 policy")
    args = parser.parse_args()
    if not os.path.isdir(RACCOON):
        sys.exit(f"profile_train_step: {RACCOON} is missing (needs ../shared)")
    if args.bf16:
        import keras

        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    function = tf.function(jit_compile=True) if args.jit else tf.function
    anchors = load_anchors()
    samples, _ = load_voc_split(RACCOON, "train", ["raccoon"])
    size = (args.size, args.size)
    images, targets = next(
        iter(pipeline.build_val_dataset(samples[: args.batch], size, anchors, 1, args.batch))
    )
    y_true, gt_boxes = list(targets[:3]), targets[3]
    body = yolo_body(size, num_classes=1, alpha=args.alpha)
    if args.alpha == 0.25 and os.path.exists(WEIGHTS):
        load_weights(body, WEIGHTS, skip_mismatch=True)
    set_backbone_frozen(body, args.frozen)
    loss_fn = YoloLoss(anchors, 1)
    variables = body.trainable_variables
    optimizer = build_optimizer("adam", 1e-3)
    optimizer.build(variables)

    @function
    def forward():
        return body(images, training=True)

    @function
    def forward_loss():
        return loss_fn(y_true, body(images, training=True), gt_boxes)["total"]

    @function
    def gradients():
        with tf.GradientTape() as tape:
            loss = loss_fn(y_true, body(images, training=True), gt_boxes)["total"]
        return tape.gradient(loss, variables)

    @function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y_true, body(images, training=True), gt_boxes)["total"]
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    outputs = body(images, training=False)

    @function
    def loss_only():
        return loss_fn(y_true, outputs, gt_boxes)["total"]

    rows = [
        ("forward (training=True)", median_ms(forward, args.runs)),
        ("loss alone (targets given)", median_ms(loss_only, args.runs)),
        ("forward + loss", median_ms(forward_loss, args.runs)),
        ("forward + loss + gradients", median_ms(gradients, args.runs)),
        ("whole step (+ Adam update)", median_ms(step, args.runs)),
    ]

    train_ds = pipeline.build_train_dataset(
        samples, size, anchors, 1, args.batch, mosaic=0.5, mixup=0.5, seed=0
    )
    iterator = iter(train_ds)
    next(iterator)
    start = time.perf_counter()
    n = 15  # one epoch of raccoon is 20 batches
    for _ in range(n):
        next(iterator)
    rows.append(
        ("input pipeline, one batch (mosaic/mixup 0.5)", 1000 * (time.perf_counter() - start) / n)
    )
    print(
        f"mobilenetv1-{args.alpha:g}, {args.size}, batch {args.batch}, "
        f"{'frozen' if args.frozen else 'unfrozen'} ({len(variables)} trainable variables), "
        f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}"
    )
    for name, ms in rows:
        print(f"  {name:<46} {ms:8.1f} ms")


if __name__ == "__main__":
    main()
