"""Building blocks shared by the backbones and the neck.

Every block is a plain function over Keras tensors, so the functional graph stays
identical, node for node, to the one the reference implementation builds. That
matters: the reference's weight files are stored in Keras' depth-sorted graph order.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

# What an activation argument may be: a Keras activation name or a function of a tensor.
ActivationLike = str | Callable[[keras.KerasTensor], keras.KerasTensor]

BN_EPSILON = 1e-3  # Keras' default, which the reference uses everywhere but DenseNet's stem.


@keras.saving.register_keras_serializable(package="yolov4_lite")
class BatchNorm(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel.

    Keras 3 normalises with separate moment, subtract and scale ops; the fused op does the
    same in one pass forward and backward, which makes a MobileNet training step about 1.3x
    faster on a CPU. Same weights, same moving-average update (biased batch variance, as
    Keras), same outputs within float rounding. Cases the fused op does not cover (other
    backends, masks, renorm, non-NHWC inputs) take Keras' own path.

    ``synchronized`` (set on the layer before the train step is traced) computes the batch
    statistics over all replicas of a ``tf.distribute`` step (two all-reduces per layer:
    the mean, then the squared deviations from it).
    """

    def _fused_applies(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.shape[-1] is not None
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)  # BN runs in float32 under mixed precision, as Keras'
        channels = inputs.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        if training and self.trainable and self.synchronized:
            replica = tf.distribute.get_replica_context()
            if replica is not None and replica.num_replicas_in_sync > 1:
                return self._synchronized_call(x, gamma, beta, replica)
        if not (training and self.trainable):
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32),
                epsilon=self.epsilon,
                is_training=False,
            )
            return tf.cast(y, self.compute_dtype)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=self.epsilon, is_training=True
        )
        # The fused op returns the unbiased variance; Keras' moving average uses the biased one.
        count = tf.cast(tf.size(x) // channels, tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self._update_moving_statistics(mean, variance)
        return tf.cast(y, self.compute_dtype)

    def _synchronized_call(self, x, gamma, beta, replica):
        import tensorflow as tf

        channels = x.shape[-1]
        # Two passes (mean, then squared deviations from it): the one-pass E[x^2] - E[x]^2
        # cancels badly when the mean is large against the spread, and deep stacks of
        # normalisations amplify that error.
        count = tf.cast(tf.size(x) // channels, tf.float32)
        totals = replica.all_reduce(
            tf.distribute.ReduceOp.SUM,
            tf.concat([tf.reduce_sum(x, axis=[0, 1, 2]), count[None]], axis=0),
        )
        count = tf.maximum(totals[-1], 1.0)
        mean = totals[:channels] / count
        squares = replica.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(tf.square(x - mean), axis=[0, 1, 2])
        )
        variance = squares / count
        y = tf.nn.batch_normalization(x, mean, variance, beta, gamma, self.epsilon)
        self._update_moving_statistics(mean, variance)
        return tf.cast(y, self.compute_dtype)

    def _update_moving_statistics(self, mean, variance):
        import tensorflow as tf

        momentum = self.momentum
        self.moving_mean.assign(
            self.moving_mean * momentum + tf.cast(mean, self.moving_mean.dtype) * (1.0 - momentum)
        )
        self.moving_variance.assign(
            self.moving_variance * momentum
            + tf.cast(variance, self.moving_variance.dtype) * (1.0 - momentum)
        )


def relu6(name: str | None = None) -> layers.ReLU:
    return layers.ReLU(max_value=6.0, name=name)


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_swish(x: keras.KerasTensor) -> keras.KerasTensor:
    """x * relu6(x + 3) / 6, as MobileNetV3 defines it."""
    return x * keras.ops.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_sigmoid_v3(x: keras.KerasTensor) -> keras.KerasTensor:
    """relu6(x + 3) / 6: the gate of MobileNetV3's squeeze-excite."""
    return keras.ops.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_sigmoid_legacy(x: keras.KerasTensor) -> keras.KerasTensor:
    """clip(0.2 x + 0.5, 0, 1): TF <= 2.15's 'hard_sigmoid', which the reference GhostNet used.

    Keras 3 redefined 'hard_sigmoid' as relu6(x + 3) / 6, so the string would silently
    change GhostNet's outputs.
    """
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def conv_layer_name(block: str) -> str:
    """Name of the convolution inside the :func:`conv_bn_act` block named ``block``."""
    return f"{block}_conv"


def conv_bn_act(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int | tuple[int, int] = 1,
    strides: int | tuple[int, int] = 1,
    activation: ActivationLike = "relu6",
    name: str | None = None,
    weight_decay: float = 5e-4,
) -> keras.KerasTensor:
    """Conv (no bias) + BatchNorm + activation: the reference's 'DarknetConv2D_BN_Leaky' block."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        kernel_regularizer=keras.regularizers.l2(weight_decay),
        name=None if name is None else conv_layer_name(name),
    )(x)
    x = BatchNorm(epsilon=BN_EPSILON, name=None if name is None else f"{name}_bn")(x)
    return _activation(activation, None if name is None else f"{name}_act")(x)


def depthwise_separable(
    x: keras.KerasTensor,
    filters: int,
    strides: int | tuple[int, int] = 1,
    name: str | None = None,
    weight_decay: float = 5e-4,
) -> keras.KerasTensor:
    """3x3 depthwise + BN + ReLU6, then 1x1 conv + BN + ReLU6."""
    x = layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        depthwise_regularizer=keras.regularizers.l2(weight_decay),
        name=None if name is None else f"{name}_dw",
    )(x)
    x = BatchNorm(epsilon=BN_EPSILON, name=None if name is None else f"{name}_dw_bn")(x)
    x = relu6(None if name is None else f"{name}_dw_act")(x)
    return conv_bn_act(
        x, filters, 1, name=None if name is None else f"{name}_pw", weight_decay=weight_decay
    )


def _activation(activation: ActivationLike, name: str | None) -> keras.layers.Layer:
    if activation == "relu6":
        return relu6(name)
    return layers.Activation(activation, name=name)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``value``.

    The rule MobileNetV2/V3 use to scale widths by alpha (and so the reference's layer shapes).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
