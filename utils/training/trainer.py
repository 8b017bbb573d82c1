"""The training loop: ``train_detector`` runs the frozen and unfrozen phases of a
:class:`utils.training.yolo_trainer.YoloTrainer` with their data and callbacks."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from nets.errors import UserError
from nets.loss import YoloLoss
from utils import files
from utils.training import callbacks as cb
from utils.training.distribute import Distribution, distributed_dataset, shared_data_seed
from utils.training.ema import WeightAverage
from utils.training.history import HistoryWriter
from utils.training.map_evaluator import MapEvaluator
from utils.training.model_setup import (
    batchnorm_statistics,
    set_backbone_frozen,
    set_batchnorm_synchronized,
)
from utils.training.optimizer import build_optimizer
from utils.training.state import restore_average, restore_optimizer, restore_weights
from utils.training.yolo_trainer import YoloTrainer

if TYPE_CHECKING:
    from utils.data.samples import Sample
    from utils.training.settings import TrainSettings


@dataclass
class TrainResult:
    """How a run ended."""

    epochs_done: int
    stopped_by_nan: bool
    best_metric: float
    best_mode: str
    history: list
    save_dir: str


def train_detector(
    settings: TrainSettings,
    body: keras.Model,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    class_names: Sequence[str],
    anchors: np.ndarray,
    resume_state: tuple[dict, dict[str, np.ndarray]] | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    pipeline: ModuleType | None = None,
    evaluate: ModuleType | None = None,
    record: dict | None = None,
    distribution: Distribution | None = None,
) -> TrainResult:
    """Train ``body`` (already initialised, built in the strategy's scope) in place through the
    frozen and unfrozen phases.

    Args:
        train_samples, val_samples: dataset samples (``utils.data``); ``val_samples`` may be
            empty (no validation loss, no mAP).
        class_names, anchors: class list and (9, 2) anchors in input pixels.
        resume_state: ``(state, arrays)`` from ``utils.training.state.load_training_state``.
        extra_callbacks: more Keras callbacks (tests use them to interrupt a run).
        pipeline, evaluate: the ``utils.data.pipeline`` and ``utils.evaluation.evaluate`` modules
            (injectable for tests; imported by default).
        record: extra JSON-able settings stored in the training state (train.py's flags).
        distribution: the strategy and this process's part in it (default: one device).
            Batch sizes are global; only the chief writes files and evaluates.

    ``KeyboardInterrupt`` propagates after the last finished epoch's checkpoint and state are
    on disk.
    """
    _ignore_expected_keras_warnings()
    if pipeline is None:
        from utils.data import pipeline
    if distribution is None:
        distribution = Distribution(tf.distribute.get_strategy(), "none", 1)
    if settings.seed is not None:
        keras.utils.set_random_seed(int(settings.seed))
    data = _RunData(train_samples, val_samples, class_names, anchors)
    run = _TrainingRun.start(settings, body, data, distribution, pipeline, resume_state, record)
    run.extra_callbacks = list(extra_callbacks)
    if val_samples and settings.eval_period > 0 and distribution.is_chief:
        run.evaluate_fn = MapEvaluator(body, val_samples, class_names, anchors, settings, evaluate)
    return run.train()


def _ignore_expected_keras_warnings():
    # Keras warns about the tf.data shuffle flag and the end of the (finite) validation data.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")


@dataclass(frozen=True)
class _RunData:
    """What a run trains and validates on."""

    train_samples: Sequence[Sample]
    val_samples: Sequence[Sample]
    class_names: Sequence[str]
    anchors: np.ndarray

    @property
    def num_classes(self):
        return len(self.class_names)


def _build_trainer(body, settings, data, distribution):
    """The :class:`YoloTrainer` around ``body``, with its weight average when ``settings.ema``."""
    set_batchnorm_synchronized(body, settings.sync_bn and distribution.num_replicas > 1)
    loss_fn = YoloLoss(
        data.anchors,
        data.num_classes,
        ANCHORS_MASK,
        label_smoothing=settings.label_smoothing,
        focal_loss=settings.focal_loss,
        static_shapes=settings.jit_compile,
    )
    with distribution.strategy.scope():
        ema = WeightAverage(body) if settings.ema else None
        trainer = YoloTrainer(body, loss_fn, ema=ema, name="yolo_trainer")
        trainer.results_as_vectors = distribution.kind == "multiworker"
        if distribution.num_replicas > 1 and not settings.sync_bn:
            trainer.replica_statistics = batchnorm_statistics(body)
    return trainer


def _restore_progress(context, resume_state):
    """Put a saved run's weights, weight average and progress back into ``context``; returns
    the epoch to continue from (0 for a new run)."""
    if resume_state is None:
        return 0
    state, arrays = resume_state
    restore_weights(context.body, arrays)
    if context.ema is not None:
        restore_average(context.ema, arrays)
    start_epoch = int(state["epoch"])
    context.best_metric, context.best_mode = state.get("best_metric"), state.get("best_mode")
    context.history = [row for row in state.get("history", []) if row["epoch"] <= start_epoch]
    context.last_completed_epoch = start_epoch
    return start_epoch


def _steps_per_epoch(num_images, batch_size):
    if num_images < batch_size:
        raise UserError(
            f"the training split has {num_images} images, fewer than "
            f"one batch of {batch_size}: lower the batch size"
        )
    return num_images // batch_size


@dataclass
class _TrainingRun:
    """What the phases of one :func:`train_detector` call share, and how each phase trains."""

    settings: TrainSettings
    data: _RunData
    trainer: YoloTrainer
    context: cb.TrainingContext
    distribution: Distribution
    pipeline: ModuleType
    resume_state: tuple | None
    start_epoch: int  # the first epoch this call trains
    extra_callbacks: list = field(default_factory=list)
    evaluate_fn: Callable[[int], float] | None = None
    val_data: tuple | None = None  # (dataset, steps), built once for all phases
    data_seed: int | None = field(init=False)
    aug_off_epoch: int = field(init=False)

    def __post_init__(self):
        self.data_seed = shared_data_seed(self.settings.seed, self.distribution)
        self.aug_off_epoch = int(round(self.settings.aug_off_ratio * self.settings.epochs))

    @classmethod
    def start(cls, settings, body, data, distribution, pipeline, resume_state, record):
        """Build the trainer and its context; a resumed run gets its weights and progress back."""
        if distribution.is_chief:
            os.makedirs(settings.save_dir, exist_ok=True)
            # A killed run may have left a half-written temporary beside its checkpoints.
            files.remove_temporaries(settings.save_dir)
        trainer = _build_trainer(body, settings, data, distribution)
        context = cb.TrainingContext(
            body,
            settings.save_dir,
            settings.epochs,
            settings=_jsonable({**asdict(settings), **(record or {})}),
            ema=trainer.ema,
        )
        start_epoch = _restore_progress(context, resume_state)
        return cls(
            settings, data, trainer, context, distribution, pipeline, resume_state, start_epoch
        )

    def train(self):
        """Train the phases not finished yet, stopping at a non-finite loss."""
        for name, first, end, batch_size in self.settings.phases():
            if end <= self.start_epoch:
                continue  # finished before the resumed run stopped
            self.train_phase(name, max(first, self.start_epoch), end, batch_size)
            if self.context.nan_detected:
                break
        return self.result()

    def result(self):
        ctx = self.context
        return TrainResult(
            ctx.last_completed_epoch,
            ctx.nan_detected,
            ctx.best_metric,
            ctx.best_mode,
            ctx.history,
            self.settings.save_dir,
        )

    def train_phase(self, name, begin, end, batch_size):
        """Fit epochs ``begin`` to ``end`` of phase ``name`` ("frozen" or "unfrozen")."""
        self.context.phase = name
        images = self.settings.epoch_images or len(self.data.train_samples)
        steps = _steps_per_epoch(images, batch_size)
        set_backbone_frozen(self.trainer.body, frozen=(name == "frozen"))
        if self.trainer.ema is not None:
            self.trainer.ema.set_epoch_length(steps)
        self._compile(name, begin)
        train_ds = distributed_dataset(
            self.distribution.strategy,
            self.distribution,
            functools.partial(self._train_dataset, begin, end, batch_size),
            batch_size,
        )
        if self.data.val_samples and self.val_data is None:
            self.val_data = _validation_data(self)
        validation, validation_steps = self.val_data or (None, None)
        self.trainer.fit(
            train_ds,
            steps_per_epoch=steps,
            initial_epoch=begin,
            epochs=end,
            validation_data=validation,
            validation_steps=validation_steps,
            callbacks=self._callbacks(batch_size, steps),
            verbose=self.settings.verbose,
            shuffle=False,
        )  # the tf.data pipeline shuffles itself

    def _compile(self, name, begin):
        """A fresh optimiser for the phase; the phase a run resumes in gets its saved one back."""
        settings = self.settings
        with self.distribution.strategy.scope():
            optimizer = build_optimizer(
                settings.optimizer,
                1e-4,
                settings.momentum,
                settings.weight_decay,
                settings.mixed_precision,
            )
            self.trainer.compile(optimizer=optimizer, jit_compile=settings.jit_compile)
            if self._resumes_in(name, begin):
                restore_optimizer(
                    optimizer, self.trainer.body.trainable_variables, self.resume_state[1]
                )
            else:
                # Built eagerly, the optimiser's variables are not created inside the traced
                # train step: that halves the first epoch's tracing (about 50 s -> 26 s on 2
                # CPU cores).
                optimizer.build(self.trainer.body.trainable_variables)

    def _resumes_in(self, name, begin):
        """Whether phase ``name``, starting at ``begin``, continues the saved run's phase."""
        return (
            self.resume_state is not None
            and begin == self.start_epoch
            and self.start_epoch > 0
            and self.resume_state[0].get("phase") == name
        )

    def _train_dataset(self, begin, end, batch_size, shard=(1, 0), replica_batch=None):
        """Epochs ``begin`` to ``end`` of training batches, repeated; ``shard`` and
        ``replica_batch`` are one input pipeline's share when replicated."""
        settings, data = self.settings, self.data
        return self.pipeline.build_train_dataset(
            data.train_samples,
            settings.input_size,
            data.anchors,
            data.num_classes,
            batch_size if replica_batch is None else replica_batch,
            anchors_mask=ANCHORS_MASK,
            mosaic=settings.mosaic,
            mixup=settings.mixup,
            seed=self.data_seed,
            workers=settings.workers,
            aug_off_epoch=self.aug_off_epoch,
            global_batch=batch_size,
            shard=shard,
            sizes=self.pipeline.multi_scale_sizes(settings.input_size)
            if settings.multi_scale
            else None,
            epoch_size=settings.epoch_images,
            epochs=end - begin,
            first_epoch=begin,
        ).repeat()

    def _callbacks(self, batch_size, steps):
        context = self.context
        callbacks = [
            cb.StepLearningRate(self.settings.lr_function(batch_size), steps),
            cb.NanGuard(context),
        ]
        if self.evaluate_fn is not None:
            callbacks.append(cb.MapEvaluation(context, self.evaluate_fn, self.settings.eval_period))
        if self.distribution.is_chief:
            callbacks += self._chief_callbacks(batch_size, steps)
        else:
            callbacks.append(cb.EpochCounter(context))
        return callbacks + self.extra_callbacks

    def _chief_callbacks(self, batch_size, steps):
        """The callbacks that write files: history, checkpoints and state, TensorBoard logs."""
        trainer, settings = self.trainer, self.settings
        callbacks = [
            HistoryWriter(self.context, batch_size, steps),
            # The optimiser in use: compile() may have wrapped the phase's (loss scaling).
            cb.Checkpointer(self.context, lambda: trainer.optimizer, settings.save_period),
        ]
        if tensorboard_available():
            callbacks.append(
                keras.callbacks.TensorBoard(
                    os.path.join(settings.save_dir, "tensorboard"),
                    write_graph=False,
                    profile_batch=0,
                )
            )
        return callbacks


class _ValidationSet:
    """Builds the validation dataset of one input pipeline and keeps its number of steps."""

    def __init__(self, run):
        self.run = run
        self.steps = None

    def dataset(self, shard=(1, 0), replica_batch=None):
        settings, data = self.run.settings, self.run.data
        distributed = self.run.distribution.distributed
        ds = self.run.pipeline.build_val_dataset(
            data.val_samples,
            settings.input_size,
            data.anchors,
            data.num_classes,
            settings.batch_size if replica_batch is None else replica_batch,
            anchors_mask=ANCHORS_MASK,
            global_batch=settings.batch_size if distributed else None,
            shard=shard,
        )
        self.steps = ds.steps
        return ds.repeat() if distributed else ds


def _validation_data(run):
    """(validation dataset, steps) for ``fit``: one pass over the split (cycled up to whole
    global batches when replicated, so every worker runs the same steps)."""
    source = _ValidationSet(run)
    if not run.distribution.distributed:
        return source.dataset(), None
    data = distributed_dataset(
        run.distribution.strategy, run.distribution, source.dataset, run.settings.batch_size
    )
    return data, source.steps


def tensorboard_available():
    """TensorBoard logging needs the ``tensorboard`` package (tf.summary's implementation)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
