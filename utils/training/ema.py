"""An exponential moving average (EMA) of a model's weights, updated inside the train step.

The average covers every float weight of the model, BatchNorm's moving statistics included, so
the averaged model is self-consistent. Its decay ramps up from 0 (``d = d_max (1 - exp(-t /
ramp))``, as YOLOX does) so early random weights fade out fast; ``d_max`` and ``ramp`` follow
the length of an epoch: the average spans about ``WINDOW_EPOCHS`` epochs once ramped up, over
one epoch. On COCO at batch 64 that gives YOLOX's 0.9999-like decay; on a dataset of a few
hundred images it still averages over a couple of epochs instead of a few steps.
"""

import contextlib

import numpy as np
import tensorflow as tf

WINDOW_EPOCHS = 2.0


def decay_for(steps_per_epoch, window_epochs=WINDOW_EPOCHS):
    """(d_max, ramp in steps) for phases of ``steps_per_epoch`` steps."""
    steps = max(int(steps_per_epoch), 1)
    return 1.0 - 1.0 / max(window_epochs * steps, 1.0), float(steps)


class WeightAverage:
    """EMA of ``model``'s float weights; create it in the strategy's scope.

    ``update()`` runs in the (replicated) train step after the optimiser's update; the weights
    are equal on every replica then, so the first replica's value is kept. ``applied()`` swaps
    the averages into the model for evaluation or saving and puts the training weights back.
    """

    def __init__(self, model, steps_per_epoch=1):
        self.model = model
        self.weights = [w for w in model.weights if "float" in str(w.dtype)]
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.averages = [
            tf.Variable(
                w.value, trainable=False, aggregation=first, name="ema/" + w.path.replace("/", "_")
            )
            for w in self.weights
        ]
        self.updates = tf.Variable(0.0, trainable=False, aggregation=first, name="ema/updates")
        d_max, ramp = decay_for(steps_per_epoch)
        self.d_max = tf.Variable(d_max, trainable=False, aggregation=first, name="ema/d_max")
        self.ramp = tf.Variable(ramp, trainable=False, aggregation=first, name="ema/ramp")

    def set_epoch_length(self, steps_per_epoch):
        """Re-derive the decay for a phase with another number of steps per epoch."""
        d_max, ramp = decay_for(steps_per_epoch)
        self.d_max.assign(d_max)
        self.ramp.assign(ramp)

    def update(self):
        """One EMA step (graph-friendly)."""
        self.updates.assign_add(1.0)
        decay = self.d_max * (1.0 - tf.exp(-self.updates / self.ramp))
        for average, weight in zip(self.averages, self.weights):
            average.assign(decay * average + (1.0 - decay) * tf.cast(weight.value, average.dtype))

    @contextlib.contextmanager
    def applied(self):
        """Within the block the model holds the averaged weights."""
        raw = [np.asarray(w.numpy()) for w in self.weights]
        for weight, average in zip(self.weights, self.averages):
            weight.assign(average.numpy())
        try:
            yield self.model
        finally:
            for weight, value in zip(self.weights, raw):
                weight.assign(value)

    def state(self):
        """Arrays to store in the training state (averages, then the update count)."""
        return [np.asarray(a.numpy()) for a in self.averages] + [
            np.asarray([self.updates.numpy()], np.float32)
        ]

    def restore(self, arrays):
        """Load ``state()``'s arrays; False (nothing changed) when they do not fit."""
        if len(arrays) != len(self.averages) + 1 or any(
            tuple(a.shape) != np.shape(v) for a, v in zip(self.averages, arrays)
        ):
            return False
        for average, value in zip(self.averages, arrays):
            average.assign(value)
        self.updates.assign(float(np.ravel(arrays[-1])[0]))
        return True
