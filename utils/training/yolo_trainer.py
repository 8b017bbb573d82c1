"""``YoloTrainer``: the Keras model whose custom train and test steps compute the YOLO loss.

It wraps a ``yolo_body`` model without changing it: the body keeps its own layers and weights
(so checkpoints stay reference-compatible) while the wrapper's ``train_step`` computes the loss
parts and tracks them as metrics ``box``, ``obj``, ``cls`` and ``loss``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nets.loss import sum_over_replicas

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
