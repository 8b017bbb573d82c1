"""Building blocks shared by the backbones and the neck.

Every block is a plain function over Keras tensors, so the functional graph stays
identical, node for node, to the one the reference implementation builds. That
matters: the reference's weight files are stored in Keras' depth-sorted graph order.
"""
import keras
from keras import layers

BN_EPSILON = 1e-3  # Keras' default, which the reference uses everywhere but DenseNet's stem.


def relu6(name=None):
    return layers.ReLU(max_value=6.0, name=name)


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_swish(x):
    """x * relu6(x + 3) / 6, as MobileNetV3 defines it."""
    return x * keras.ops.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_sigmoid_v3(x):
    """relu6(x + 3) / 6: the gate of MobileNetV3's squeeze-excite."""
    return keras.ops.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="yolov4_lite")
def hard_sigmoid_legacy(x):
    """clip(0.2 x + 0.5, 0, 1): TF <= 2.15's 'hard_sigmoid', which the reference GhostNet used.

    Keras 3 redefined 'hard_sigmoid' as relu6(x + 3) / 6, so the string would silently
    change GhostNet's outputs.
    """
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def conv_layer_name(block):
    """Name of the convolution inside the :func:`conv_bn_act` block named ``block``."""
    return f"{block}_conv"


def conv_bn_act(x, filters, kernel_size=1, strides=1, activation="relu6", name=None,
                weight_decay=5e-4):
    """Conv (no bias) + BatchNorm + activation: the reference's 'DarknetConv2D_BN_Leaky' block."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                      kernel_regularizer=keras.regularizers.l2(weight_decay),
                      name=None if name is None else conv_layer_name(name))(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON,
                                  name=None if name is None else f"{name}_bn")(x)
    return _activation(activation, None if name is None else f"{name}_act")(x)


def depthwise_separable(x, filters, strides=1, name=None, weight_decay=5e-4):
    """3x3 depthwise + BN + ReLU6, then 1x1 conv + BN + ReLU6."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               depthwise_regularizer=keras.regularizers.l2(weight_decay),
                               name=None if name is None else f"{name}_dw")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON,
                                  name=None if name is None else f"{name}_dw_bn")(x)
    x = relu6(None if name is None else f"{name}_dw_act")(x)
    return conv_bn_act(x, filters, 1, name=None if name is None else f"{name}_pw",
                       weight_decay=weight_decay)


def _activation(activation, name):
    if activation == "relu6":
        return relu6(name)
    return layers.Activation(activation, name=name)


def make_divisible(value, divisor=8, min_value=None):
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``value``.

    The rule MobileNetV2/V3 use to scale widths by alpha (and so the reference's layer shapes).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
