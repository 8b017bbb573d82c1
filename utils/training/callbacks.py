"""Keras callbacks for training: LR schedule, NaN guard, evaluation,
checkpoints with a resumable state (the CSV history and its plots: ``utils.training.history``).

Every file is written atomically (``utils.files``), so killing the process at any moment leaves
the previous or the new version, never a torn one.
"""

import contextlib
import math
import os

import keras

from utils.training.state import save_checkpoint, save_training_state


class TrainingContext:
    """What the callbacks share: the body model, the run's settings and its progress."""

    def __init__(
        self,
        body,
        save_dir,
        total_epochs,
        settings=None,
        best_metric=None,
        best_mode=None,
        history=None,
        ema=None,
    ):
        self.body = body
        self.ema = ema  # a WeightAverage, or None
        self.save_dir = save_dir
        self.total_epochs = int(total_epochs)
        self.settings = dict(settings or {})
        self.best_metric = best_metric  # best value so far (mAP or val loss)
        self.best_mode = best_mode  # "map50" (higher is better) or "val_loss"
        self.history = list(history or [])  # one dict per finished epoch
        self.nan_detected = False
        self.last_completed_epoch = 0
        self.phase = None  # the phase being trained: "frozen" or "unfrozen"

    def path(self, name):
        return os.path.join(self.save_dir, name)

    def output_weights(self):
        """A context in which ``body`` holds the weights to evaluate and save: the moving
        average when there is one, else the training weights."""
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext(self.body)


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


class EpochCounter(keras.callbacks.Callback):
    """Counts finished epochs where no Checkpointer does (the workers other than the chief)."""

    def __init__(self, context):
        super().__init__()
        self.context = context

    def on_epoch_end(self, epoch, logs=None):
        if not self.context.nan_detected:
            self.context.last_completed_epoch = epoch + 1


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
            with self.context.output_weights():
                logs["map50"] = float(self.evaluate_fn(done))


# ----------------------------------------------------------------------------- checkpoints
class Checkpointer(keras.callbacks.Callback):
    """Writes ``last.h5``, ``best.h5`` (by mAP when evaluated, else val loss), periodic
    ``ep{NNN}.h5`` files and the resumable training state after every epoch.

    ``optimizer_fn()`` returns the optimiser whose variables go into the state (the one in use);
    the state records ``context.phase``.
    """

    def __init__(self, context, optimizer_fn, save_period=0):
        super().__init__()
        self.context = context
        self.optimizer_fn = optimizer_fn
        self.save_period = int(save_period)

    def on_epoch_end(self, epoch, logs=None):
        ctx = self.context
        if ctx.nan_detected:
            return
        logs = logs or {}
        done = epoch + 1
        with ctx.output_weights():
            save_checkpoint(ctx.body, ctx.path("last.h5"))
            metric, mode = _best_candidate(logs, ctx.best_mode)
            # The first mAP replaces a val-loss based best: the two are not comparable.
            if metric is not None and (
                ctx.best_metric is None
                or mode != ctx.best_mode
                or _better(metric, ctx.best_metric, mode)
            ):
                ctx.best_metric, ctx.best_mode = metric, mode
                save_checkpoint(ctx.body, ctx.path("best.h5"))
                logs["best"] = 1
            if self.save_period > 0 and done % self.save_period == 0:
                save_checkpoint(ctx.body, ctx.path(f"ep{done:03d}.h5"))
        ctx.last_completed_epoch = done
        save_training_state(ctx, self.optimizer_fn(), done, ctx.phase)


def _best_candidate(logs, current_mode):
    if logs.get("map50") is not None:
        return logs["map50"], "map50"
    if current_mode == "map50":  # once mAP decides, val loss never overrides it
        return None, current_mode
    if logs.get("val_loss") is not None and math.isfinite(logs["val_loss"]):
        return logs["val_loss"], "val_loss"
    return None, current_mode


def _better(value, best, mode):
    return value > best if mode == "map50" else value < best
