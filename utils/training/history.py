"""The epoch history of a training run: ``history.csv`` and the ``loss.png`` / ``map.png`` plots."""

import csv
import io
import os
import time

import keras

from utils import files

HISTORY_FIELDS = (
    "epoch",
    "lr",
    "loss",
    "box",
    "obj",
    "cls",
    "val_loss",
    "val_box",
    "val_obj",
    "val_cls",
    "map50",
    "time_s",
    "train_s",
    "images_per_s",
)


class HistoryWriter(keras.callbacks.Callback):
    """Appends one row per epoch to ``history.csv`` and redraws ``loss.png`` / ``map.png``.

    Also records the epoch's wall time, the time spent in training steps alone and the
    training throughput (images/s).
    """

    def __init__(self, context, batch_size, steps_per_epoch):
        super().__init__()
        self.context = context
        self.images_per_epoch = int(batch_size) * int(steps_per_epoch)
        self.epoch_start = self.train_end = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start, self.train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self.epoch_start is not None and self.train_end is None:
            self.train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.context.nan_detected:
            return
        now = time.perf_counter()
        train_s = (self.train_end or now) - self.epoch_start
        logs = logs or {}
        row = {
            "epoch": epoch + 1,
            "time_s": round(now - self.epoch_start, 2),
            "train_s": round(train_s, 2),
            "images_per_s": round(self.images_per_epoch / max(train_s, 1e-9), 1),
        }
        for key in HISTORY_FIELDS:
            if key not in row:
                value = logs.get(key)
                row[key] = None if value is None else float(value)
        self.context.history.append(row)
        write_history_csv(self.context.path("history.csv"), self.context.history)
        plot_history(self.context.history, self.context.save_dir)


def write_history_csv(path, history):
    """The epoch history as CSV (atomic)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in HISTORY_FIELDS})
    files.write_bytes(path, buffer.getvalue().encode("utf8"))


def plot_history(history, save_dir):
    """``loss.png`` (train/val total and parts) and, once mAP exists, ``map.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]

    def series(key):
        pairs = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        x, y = series(key)
        if x:
            axes[0].plot(x, y, style, label=key)
    axes[0].set_title("total loss")
    for key in ("box", "obj", "cls"):
        x, y = series(key)
        if x:
            axes[1].plot(x, y, label=key)
        x, y = series("val_" + key)
        if x:
            axes[1].plot(x, y, "--", label="val_" + key)
    axes[1].set_title("loss parts")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        if epochs:
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    files.write_figure(os.path.join(save_dir, "loss.png"), fig, dpi=100, bbox_inches="tight")
    plt.close(fig)

    x, y = series("map50")
    if x:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [v * 100 for v in y], "o-")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mAP@0.5 (%)")
        ax.set_title("validation mAP@0.5")
        ax.grid(alpha=0.3)
        files.write_figure(os.path.join(save_dir, "map.png"), fig, dpi=100, bbox_inches="tight")
        plt.close(fig)
