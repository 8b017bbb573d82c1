"""Time the first training step (tracing and graph set-up) against the steps after it.

The first step of every training phase traces the train step; on a CPU that dominates short runs
and the test suite. The script trains ``YoloTrainer`` on one fixed raccoon batch for a few
one-step epochs and prints the first epoch's seconds and the median of the others, with the
optimiser built eagerly before ``fit`` (what ``train_detector`` does) and, with ``--lazy``, built
inside the first traced step (Keras' default).

    python benchmarks/bench_first_epoch.py [--size 128] [--alpha 0.25] [--lazy]
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import tensorflow as tf

from nets import yolo_body
from nets.loss import YoloLoss
from utils.config import load_anchors
from utils.data import load_voc_split
from utils.data.pipeline import build_val_dataset
from utils.training.optimizer import build_optimizer
from utils.training.yolo_trainer import YoloTrainer

RACCOON = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "raccoon", "VOC2007")


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--lazy",
        action="store_true",
        help="let Keras build the optimiser inside the first traced step",
    )
    args = parser.parse_args()
    if not os.path.isdir(RACCOON):
        sys.exit(f"bench_first_epoch: {RACCOON} is missing (needs ../shared)")
    anchors = load_anchors()
    samples, _ = load_voc_split(RACCOON, "train", ["raccoon"])
    size = (args.size, args.size)
    batch = next(iter(build_val_dataset(samples[: args.batch], size, anchors, 1, args.batch)))
    body = yolo_body(size, num_classes=1, alpha=args.alpha)
    trainer = YoloTrainer(body, YoloLoss(anchors, 1))
    trainer.compile(optimizer=build_optimizer("adam", 1e-3), jit_compile=False)
    if not args.lazy:
        trainer.optimizer.build(body.trainable_variables)
    timer = EpochTimer()
    data = tf.data.Dataset.from_tensors(batch).repeat()
    trainer.fit(
        data, steps_per_epoch=1, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[timer]
    )
    print(
        f"mobilenetv1-{args.alpha:g} at {args.size}, batch {args.batch}, optimiser built "
        f"{'in the traced step' if args.lazy else 'eagerly'}: first epoch "
        f"{timer.seconds[0]:.1f} s, later epochs median "
        f"{statistics.median(timer.seconds[1:]) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
