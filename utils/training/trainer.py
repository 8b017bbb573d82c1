"""The training loop: ``YoloTrainer`` (custom train/test steps around the YOLO loss) and
``train_detector``, which runs the frozen and unfrozen phases with their callbacks.

``YoloTrainer`` wraps a ``yolo_body`` model without changing it: the body keeps its own layers
and weights (so checkpoints stay reference-compatible) while the wrapper's ``train_step``
computes the loss parts and tracks them as metrics ``box``, ``obj``, ``cls`` and ``loss``.
"""

import os
import warnings
from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from nets.errors import UserError
from nets.loss import YoloLoss, sum_over_replicas
from utils import files, options
from utils.training import callbacks as cb
from utils.training.distribute import Distribution
from utils.training.ema import WeightAverage
from utils.training.history import HistoryWriter
from utils.training.model_setup import (
    batchnorm_statistics,
    set_backbone_frozen,
    set_batchnorm_synchronized,
)
from utils.training.optimizer import build_optimizer
from utils.training.state import restore_average, restore_optimizer, restore_weights

LOSS_PARTS = ("box", "obj", "cls")


class YoloTrainer(keras.Model):
    """A Keras model that trains ``body`` with ``loss_fn`` (a :class:`nets.loss.YoloLoss`).

    Data are ``(images, (y_true_p5, y_true_p4, y_true_p3, gt_boxes))``. ``fit`` and
    ``evaluate`` report ``loss`` (total) and its parts ``box``, ``obj``, ``cls``.
    """

    def __init__(self, body, loss_fn, ema=None, **kwargs):
        super().__init__(**kwargs)
        self.body = body
        self.loss_fn = loss_fn
        self.ema = ema  # a utils.training.ema.WeightAverage, updated after every step
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss",) + LOSS_PARTS}
        self.built = True  # the body is built and the wrapper adds no weights
        self.results_as_vectors = False
        self.replica_statistics = []  # BatchNorm moving statistics to average over replicas

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the model, its compiled loss and metrics from a sample batch first; the
        # body, optimiser and trackers here are built already, and under a multi-worker strategy
        # that sample batch cannot be reduced (Keras raises on per-replica data).
        return

    def call(self, images, training=False):
        return self.body(images, training=training)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _compute(self, data, training):
        images, targets = data
        y_true, gt_boxes = list(targets[:3]), targets[3]
        outputs = self.body(images, training=training)
        return self.loss_fn(y_true, outputs, gt_boxes)

    def _update(self, parts):
        # Under replication each replica holds its share of the batch's loss: the trackers
        # take the whole batch's value, the same on every replica.
        parts = {name: sum_over_replicas(value) for name, value in parts.items()}
        self.trackers["loss"].update_state(parts["total"])
        for name in LOSS_PARTS:
            self.trackers[name].update_state(parts[name])
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if self.results_as_vectors:
            # Keras reduces a multi-worker step's results with a mean along axis 0, which
            # fails on scalars: shape (1,) reduces to the (equal) value itself.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def train_step(self, data):
        variables = self.body.trainable_variables
        with tf.GradientTape() as tape:
            parts = self._compute(data, training=True)
            loss = parts["total"]
            scaled = (
                self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") else loss
            )
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        if self.replica_statistics:
            self._average_statistics()
        if self.ema is not None:
            self.ema.update()
        return self._update(parts)

    def _average_statistics(self):
        # Unsynchronised BatchNorm updates its moving statistics from each replica's share of
        # the batch; averaging them after every step (one all-reduce for all layers) keeps the
        # replicas, and so the workers, holding the same model.
        context = tf.distribute.get_replica_context()
        averaged = context.all_reduce(
            tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in self.replica_statistics]
        )
        for variable, value in zip(self.replica_statistics, averaged):
            variable.assign(value)

    def test_step(self, data):
        return self._update(self._compute(data, training=False))


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
    settings,
    body,
    train_samples,
    val_samples,
    class_names,
    anchors,
    resume_state=None,
    extra_callbacks=(),
    pipeline=None,
    evaluate=None,
    record=None,
    distribution=None,
):
    """Train ``body`` (already initialised) through the frozen and unfrozen phases.

    Args:
        settings: a :class:`TrainSettings`.
        body: the ``yolo_body`` model to train in place (built in the strategy's scope).
        train_samples, val_samples: dataset samples (``utils.data``); ``val_samples`` may be
            empty (no validation loss, no mAP).
        class_names, anchors: class list and (9, 2) anchors in input pixels.
        resume_state: ``(state, arrays)`` from ``utils.training.state.load_training_state``.
        extra_callbacks: more Keras callbacks (tests use them to interrupt a run).
        pipeline, evaluate: the ``utils.data.pipeline`` and ``utils.evaluation.evaluate`` modules
        (injectable
            for tests; imported by default).
        record: extra JSON-able settings stored in the training state (train.py's flags).
        distribution: a ``utils.training.distribute.Distribution`` (default: one device).
            Batch sizes are global; only the chief writes files and evaluates.

    Returns a :class:`TrainResult`. ``KeyboardInterrupt`` propagates after the last finished
    epoch's checkpoint and state are on disk.
    """
    # Keras warns about the tf.data shuffle flag and the end of the (finite) validation data.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")
    if pipeline is None:
        from utils.data import pipeline
    if distribution is None:
        distribution = Distribution(tf.distribute.get_strategy(), "none", 1)
    strategy = distribution.strategy
    if settings.seed is not None:
        keras.utils.set_random_seed(int(settings.seed))

    num_classes = len(class_names)
    if distribution.is_chief:
        os.makedirs(settings.save_dir, exist_ok=True)
        # A killed run may have left a half-written temporary beside its checkpoints.
        files.remove_temporaries(settings.save_dir)
    set_batchnorm_synchronized(body, settings.sync_bn and distribution.num_replicas > 1)
    loss_fn = YoloLoss(
        anchors,
        num_classes,
        ANCHORS_MASK,
        label_smoothing=settings.label_smoothing,
        focal_loss=settings.focal_loss,
        static_shapes=settings.jit_compile,
    )
    with strategy.scope():
        ema = WeightAverage(body) if settings.ema else None
        trainer = YoloTrainer(body, loss_fn, ema=ema, name="yolo_trainer")
        trainer.results_as_vectors = distribution.kind == "multiworker"
        if distribution.num_replicas > 1 and not settings.sync_bn:
            trainer.replica_statistics = batchnorm_statistics(body)
    context = cb.TrainingContext(
        body,
        settings.save_dir,
        settings.epochs,
        settings=_jsonable({**asdict(settings), **(record or {})}),
        ema=ema,
    )
    start_epoch = 0
    if resume_state is not None:
        state, arrays = resume_state
        restore_weights(body, arrays)
        if ema is not None:
            restore_average(ema, arrays)
        start_epoch = int(state["epoch"])
        context.best_metric, context.best_mode = state.get("best_metric"), state.get("best_mode")
        context.history = [row for row in state.get("history", []) if row["epoch"] <= start_epoch]
        context.last_completed_epoch = start_epoch
    aug_off_epoch = int(round(settings.aug_off_ratio * settings.epochs))
    data_seed = _data_seed(settings.seed, distribution)

    evaluate_fn = None
    if val_samples and settings.eval_period > 0 and distribution.is_chief:
        evaluate_fn = _map_evaluator(body, val_samples, class_names, anchors, settings, evaluate)

    val_data = None
    phase_name = {"current": None}
    for name, first, end, batch_size in settings.phases():
        if end <= start_epoch:
            continue
        phase_name["current"] = name
        begin = max(first, start_epoch)
        if len(train_samples) < batch_size:
            raise UserError(
                f"the training split has {len(train_samples)} images, fewer than "
                f"one batch of {batch_size}: lower the batch size"
            )
        steps = len(train_samples) // batch_size
        set_backbone_frozen(body, frozen=(name == "frozen"))
        if ema is not None:
            ema.set_epoch_length(steps)
        with strategy.scope():
            optimizer = build_optimizer(
                settings.optimizer,
                1e-4,
                settings.momentum,
                settings.weight_decay,
                settings.mixed_precision,
            )
            trainer.compile(optimizer=optimizer, jit_compile=settings.jit_compile)
            if (
                resume_state is not None
                and begin == start_epoch
                and start_epoch > 0
                and resume_state[0].get("phase") == name
            ):
                restore_optimizer(optimizer, trainer.body.trainable_variables, resume_state[1])
            else:
                # Built eagerly, the optimiser's variables are not created inside the traced
                # train step: that halves the first epoch's tracing (about 50 s -> 26 s on 2
                # CPU cores).
                optimizer.build(trainer.body.trainable_variables)

        def train_fn(
            shard=(1, 0), replica_batch=batch_size, begin=begin, end=end, batch_size=batch_size
        ):
            return pipeline.build_train_dataset(
                train_samples,
                settings.input_size,
                anchors,
                num_classes,
                replica_batch,
                anchors_mask=ANCHORS_MASK,
                mosaic=settings.mosaic,
                mixup=settings.mixup,
                seed=data_seed,
                workers=settings.workers,
                aug_off_epoch=aug_off_epoch,
                global_batch=batch_size,
                shard=shard,
                epochs=end - begin,
                first_epoch=begin,
            ).repeat()

        train_ds = _distributed(strategy, distribution, train_fn, batch_size)
        if val_samples and val_data is None:
            val_data = _validation_data(
                pipeline, strategy, distribution, val_samples, settings, anchors, num_classes
            )
        callbacks = [
            cb.StepLearningRate(settings.lr_function(batch_size), steps),
            cb.NanGuard(context),
        ]
        if evaluate_fn is not None:
            callbacks.append(cb.MapEvaluation(context, evaluate_fn, settings.eval_period))
        if distribution.is_chief:
            callbacks += [
                HistoryWriter(context, batch_size, steps),
                cb.Checkpointer(
                    context,
                    lambda: trainer.optimizer,
                    lambda: phase_name["current"],
                    settings.save_period,
                ),
            ]
            if tensorboard_available():
                callbacks.append(
                    keras.callbacks.TensorBoard(
                        os.path.join(settings.save_dir, "tensorboard"),
                        write_graph=False,
                        profile_batch=0,
                    )
                )
        else:
            callbacks.append(cb.EpochCounter(context))
        callbacks += list(extra_callbacks)
        validation, validation_steps = val_data or (None, None)
        trainer.fit(
            train_ds,
            steps_per_epoch=steps,
            initial_epoch=begin,
            epochs=end,
            validation_data=validation,
            validation_steps=validation_steps,
            callbacks=callbacks,
            verbose=settings.verbose,
            shuffle=False,
        )  # the tf.data pipeline shuffles itself
        if context.nan_detected:
            break
    return TrainResult(
        context.last_completed_epoch,
        context.nan_detected,
        context.best_metric,
        context.best_mode,
        context.history,
        settings.save_dir,
    )


def _data_seed(seed, distribution):
    """Workers must shuffle alike to split each step between them: without a seed they share
    one derived from the cluster's addresses."""
    if seed is not None or distribution.num_workers <= 1:
        return seed
    import json
    import zlib

    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return zlib.crc32(json.dumps(cluster, sort_keys=True).encode())


def _distributed(strategy, distribution, dataset_fn, global_batch):
    """``dataset_fn(shard, replica_batch)``'s dataset, one per input pipeline when replicated."""
    if not distribution.distributed:
        return dataset_fn()

    def per_pipeline(context):
        return dataset_fn(
            (context.num_input_pipelines, context.input_pipeline_id),
            context.get_per_replica_batch_size(global_batch),
        )

    return strategy.distribute_datasets_from_function(per_pipeline)


def _validation_data(pipeline, strategy, distribution, val_samples, settings, anchors, num_classes):
    """(validation dataset, steps) for ``fit``: one pass over the split (cycled up to whole
    global batches when replicated, so every worker runs the same steps)."""

    def make(shard=(1, 0), replica_batch=settings.batch_size):
        ds = pipeline.build_val_dataset(
            val_samples,
            settings.input_size,
            anchors,
            num_classes,
            replica_batch,
            anchors_mask=ANCHORS_MASK,
            global_batch=settings.batch_size if distribution.distributed else None,
            shard=shard,
        )
        holder["steps"] = ds.steps
        return ds.repeat() if distribution.distributed else ds

    holder = {}
    if not distribution.distributed:
        return make(), None
    data = _distributed(strategy, distribution, make, settings.batch_size)
    return data, holder["steps"]


def tensorboard_available():
    """TensorBoard logging needs the ``tensorboard`` package (tf.summary's implementation)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _map_evaluator(body, samples, class_names, anchors, settings, evaluate):
    """A function epoch -> VOC mAP@0.5 (0-1) on ``samples`` with the current weights, measured
    with get_map.py's default settings (``options.detection_defaults('eval')``)."""
    from utils.inference.detector import Detector

    if evaluate is None:
        from utils.evaluation import evaluate
    holder = {}

    def run(epoch):
        if "detector" not in holder:
            holder["detector"] = Detector(
                body,
                class_names,
                anchors=anchors,
                input_size=settings.input_size,
                **options.detection_defaults("eval"),
            )
        result = evaluate.evaluate_detector(
            holder["detector"],
            samples,
            class_names,
            progress=False,
            batch_size=options.default("batch_size", "eval"),
        )
        return float(result["voc"]["0.5"]["mAP"])

    return run


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
