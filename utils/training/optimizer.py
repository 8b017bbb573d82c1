"""The optimisers: AdamW or SGD with Nesterov momentum, decoupled weight decay.

Both are Keras' optimisers with their per-variable update done by one TensorFlow kernel
(``ResourceApplyAdam`` / ``ResourceApplyKerasMomentum``, the same formulas). Keras writes each
update as ~40 small graph ops per variable: for the detector's ~240 variables that was 60% of the
train step's graph, seconds of tracing and graph optimisation before the first step, and
executor overhead on every step. Variables, state and hyper-parameters are Keras' own.
"""

import weakref

import keras
import tensorflow as tf

from utils.config import ConfigError
from utils.options import default


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (the replica's own under
    ``tf.distribute``, where the optimiser runs this inside ``Strategy.update``)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


class FusedAdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose update of each variable is one kernel."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            grad=tf.cast(gradient, variable.dtype),
            **self._step_scalars(learning_rate, variable.dtype),
        )

    def _step_scalars(self, learning_rate, dtype):
        """The step's scalar inputs, made once per traced graph rather than per variable."""
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        cached = getattr(self, "_scalar_cache", None)
        if graph is not None and cached and cached[0]() is graph and cached[1] == dtype:
            return cached[2]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        scalars = dict(
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
        )
        if graph is not None:
            self._scalar_cache = (weakref.ref(graph), dtype, scalars)
        return scalars


class FusedSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` (with momentum) whose update of each variable is one kernel."""

    def update_step(self, gradient, variable, learning_rate):
        if not self.momentum or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable),
            accum=_handle(self.momentums[self._get_variable_index(variable)]),
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )


def build_optimizer(
    name,
    learning_rate,
    momentum=default("momentum"),
    weight_decay=default("weight_decay"),
    mixed_precision=False,
):
    """Adam (AdamW-style decoupled decay, beta_1 = momentum) or SGD with Nesterov momentum.

    Weight decay is decoupled from the gradient (so Adam's adaptive scaling does not weaken it)
    and not applied to BatchNorm parameters or biases.
    """
    if name == "adam":
        optimizer = FusedAdamW(
            learning_rate=learning_rate, beta_1=momentum, weight_decay=weight_decay
        )
    elif name == "sgd":
        optimizer = FusedSGD(
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=True,
            weight_decay=weight_decay or None,
        )
    else:
        raise ConfigError(f"unknown optimizer {name!r}; choose adam or sgd")
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
