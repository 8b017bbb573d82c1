"""Keras callbacks for training: LR schedule, augmentation switch, NaN guard, evaluation,
checkpoints with a resumable state, the CSV history and its plots.

Every file is written atomically (temporary file + ``os.replace``), so killing the process at
any moment leaves the previous or the new version, never a torn one.
"""
import csv
import io
import json
import math
import os
import tempfile
import time

import keras
import numpy as np

from nets import save_weights

HISTORY_FIELDS = ("epoch", "lr", "loss", "box", "obj", "cls",
                  "val_loss", "val_box", "val_obj", "val_cls", "map50", "time_s", "train_s",
                  "images_per_s")
STATE_JSON = "train_state.json"
STATE_NPZ = "train_state.npz"


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class TrainingContext:
    """What the callbacks share: the body model, the run's settings and its progress."""

    def __init__(self, body, save_dir, total_epochs, settings=None, best_metric=None,
                 best_mode=None, history=None):
        self.body = body
        self.save_dir = save_dir
        self.total_epochs = int(total_epochs)
        self.settings = dict(settings or {})
        self.best_metric = best_metric       # best value so far (mAP or val loss)
        self.best_mode = best_mode           # "map50" (higher is better) or "val_loss"
        self.history = list(history or [])   # one dict per finished epoch
        self.nan_detected = False
        self.last_completed_epoch = 0

    def path(self, name):
        return os.path.join(self.save_dir, name)


# ----------------------------------------------------------------------------- schedule
class StepLearningRate(keras.callbacks.Callback):
    """Sets the optimiser's LR before every step from ``lr_fn(progress_in_epochs)``.

    Updating per step (not per epoch) makes the warm-up smooth even for short runs; the LR is a
    pure function of the position, so a resumed run continues the same curve.
    """

    def __init__(self, lr_fn, steps_per_epoch):
        super().__init__()
        self.lr_fn = lr_fn
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._set(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._set(self.epoch + batch / self.steps_per_epoch)

    def _set(self, progress):
        self.model.optimizer.learning_rate.assign(float(self.lr_fn(progress)))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.lr_fn(epoch))


class AugmentationSwitch(keras.callbacks.Callback):
    """Turns mosaic/mixup off from epoch ``off_epoch`` on (a ``tf.Variable(bool)`` flag)."""

    def __init__(self, flag, off_epoch):
        super().__init__()
        self.flag = flag
        self.off_epoch = off_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if self.flag is not None:
            self.flag.assign(epoch < self.off_epoch)


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, before a NaN checkpoint can be written."""

    def __init__(self, context):
        super().__init__()
        self.context = context

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get("loss")
        if value is not None and not math.isfinite(float(value)):
            self.context.nan_detected = True
            self.model.stop_training = True


# ----------------------------------------------------------------------------- evaluation
class MapEvaluation(keras.callbacks.Callback):
    """Every ``period`` epochs (and at the last one) computes VOC mAP@0.5 on the validation
    samples with ``evaluate_fn(epoch) -> float`` and adds it to the logs as ``map50``."""

    def __init__(self, context, evaluate_fn, period):
        super().__init__()
        self.context = context
        self.evaluate_fn = evaluate_fn
        self.period = int(period)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if self.period <= 0 or self.context.nan_detected:
            return
        if done % self.period == 0 or done == self.context.total_epochs:
            logs["map50"] = float(self.evaluate_fn(done))


# ----------------------------------------------------------------------------- checkpoints
class Checkpointer(keras.callbacks.Callback):
    """Writes ``last.h5``, ``best.h5`` (by mAP when evaluated, else val loss), periodic
    ``ep{NNN}.h5`` files and the resumable training state after every epoch.

    ``optimizer_fn()`` returns the optimiser whose variables go into the state (the one in use).
    """

    def __init__(self, context, optimizer_fn, phase_fn, save_period=0):
        super().__init__()
        self.context = context
        self.optimizer_fn = optimizer_fn
        self.phase_fn = phase_fn
        self.save_period = int(save_period)

    def on_epoch_end(self, epoch, logs=None):
        ctx = self.context
        if ctx.nan_detected:
            return
        logs = logs or {}
        done = epoch + 1
        save_weights(ctx.body, ctx.path("last.h5"))
        metric, mode = _best_candidate(logs, ctx.best_mode)
        # The first mAP replaces a val-loss based best: the two are not comparable.
        if metric is not None and (ctx.best_metric is None or mode != ctx.best_mode
                                   or _better(metric, ctx.best_metric, mode)):
            ctx.best_metric, ctx.best_mode = metric, mode
            save_weights(ctx.body, ctx.path("best.h5"))
            logs["best"] = 1
        if self.save_period > 0 and done % self.save_period == 0:
            save_weights(ctx.body, ctx.path(f"ep{done:03d}.h5"))
        ctx.last_completed_epoch = done
        save_training_state(ctx, self.optimizer_fn(), done, self.phase_fn())


def _best_candidate(logs, current_mode):
    if logs.get("map50") is not None:
        return logs["map50"], "map50"
    if current_mode == "map50":       # once mAP decides, val loss never overrides it
        return None, current_mode
    if logs.get("val_loss") is not None and math.isfinite(logs["val_loss"]):
        return logs["val_loss"], "val_loss"
    return None, current_mode


def _better(value, best, mode):
    return value > best if mode == "map50" else value < best


def save_training_state(context, optimizer, epoch, phase):
    """Atomically store weights + optimiser variables (npz) and progress (json)."""
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(context.body.get_weights())}
    if optimizer is not None and optimizer.built:
        for i, v in enumerate(optimizer.variables):
            arrays[f"o{i}"] = np.asarray(v)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(context.path(STATE_NPZ), buffer.getvalue())
    state = {"epoch": int(epoch), "phase": phase, "best_metric": context.best_metric,
             "best_mode": context.best_mode, "settings": context.settings,
             "history": context.history, "num_weights": len(context.body.get_weights()),
             "optimizer_built": bool(optimizer is not None and optimizer.built)}
    atomic_write_bytes(context.path(STATE_JSON), json.dumps(state, indent=1).encode("utf8"))


def load_training_state(save_dir):
    """The saved progress dict (json) and the arrays (npz) of a run, or raise FileNotFoundError."""
    json_path = os.path.join(save_dir, STATE_JSON)
    npz_path = os.path.join(save_dir, STATE_NPZ)
    if not (os.path.isfile(json_path) and os.path.isfile(npz_path)):
        raise FileNotFoundError(f"no training state to resume in {save_dir} "
                                f"(expected {STATE_JSON} and {STATE_NPZ})")
    with open(json_path, encoding="utf8") as f:
        state = json.load(f)
    with np.load(npz_path) as data:
        arrays = {key: data[key] for key in data.files}
    return state, arrays


def restore_weights(body, arrays):
    """Put the state's model weights back into ``body``."""
    count = len([k for k in arrays if k.startswith("w")])
    if count != len(body.weights):
        raise ValueError(f"training state holds {count} weight arrays, model has "
                         f"{len(body.weights)}: resume with the same backbone, alpha and classes")
    body.set_weights([arrays[f"w{i}"] for i in range(count)])


def restore_optimizer(optimizer, variables, arrays):
    """Build ``optimizer`` for ``variables`` and load its saved variables (same phase only)."""
    optimizer.build(variables)
    saved = [arrays[f"o{i}"] for i in range(len([k for k in arrays if k.startswith("o")]))]
    if len(saved) != len(optimizer.variables):
        return False
    for var, value in zip(optimizer.variables, saved):
        if tuple(var.shape) != value.shape:
            return False
    for var, value in zip(optimizer.variables, saved):
        var.assign(value)
    return True


# ----------------------------------------------------------------------------- history
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
        row = {"epoch": epoch + 1, "time_s": round(now - self.epoch_start, 2),
               "train_s": round(train_s, 2),
               "images_per_s": round(self.images_per_epoch / max(train_s, 1e-9), 1)}
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
    atomic_write_bytes(path, buffer.getvalue().encode("utf8"))


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
    _save_figure(fig, os.path.join(save_dir, "loss.png"))
    plt.close(fig)

    x, y = series("map50")
    if x:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, [v * 100 for v in y], "o-")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mAP@0.5 (%)")
        ax.set_title("validation mAP@0.5")
        ax.grid(alpha=0.3)
        _save_figure(fig, os.path.join(save_dir, "map.png"))
        plt.close(fig)


def _save_figure(fig, path):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
