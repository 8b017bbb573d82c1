"""DenseNet (Huang et al., 2017) with Keras Applications layer names ('/' written as '_').

The graph matches the reference's port node for node. One difference from keras.applications
is kept on purpose: only the stem's ``conv1/bn`` uses epsilon 1.001e-5, every other BatchNorm
uses Keras' default 1e-3, because that is what the reference's weight files were trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BN_EPSILON, BatchNorm

_GROWTH_RATE = 32
_COMPRESSION = 0.5  # transition layers halve the channel count
_STEM_BN_EPSILON = 1.001e-5

# Dense layers per dense block (conv2..conv5) for each depth.
DENSENET_BLOCKS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
}


def _bn_relu(x, name):
    x = BatchNorm(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _dense_layer(x, name):
    """Pre-activation bottleneck (BN-ReLU-1x1, BN-ReLU-3x3) whose output is appended to x."""
    y = _bn_relu(x, f"{name}_0")
    y = layers.Conv2D(4 * _GROWTH_RATE, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_1")
    y = layers.Conv2D(_GROWTH_RATE, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def _dense_block(x, num_layers, name):
    for index in range(1, num_layers + 1):
        x = _dense_layer(x, f"{name}_block{index}")
    return x


def _transition(x, name):
    """BN-ReLU-1x1 conv that compresses channels; returns (conv output, 2x2 average-pooled)."""
    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[-1] * _COMPRESSION), 1, use_bias=False, name=f"{name}_conv")(x)
    return x, layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def densenet_features(inputs: keras.KerasTensor, blocks: Sequence[int]) -> BackboneFeatures:
    """Stride 8, 16 and 32 features of a DenseNet with ``blocks`` dense layers per block.

    The stride 8 and 16 taps are the transition convs' outputs before their pooling (256 and
    512 channels for DenseNet-121); stride 32 is the final BN + ReLU.
    """
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = BatchNorm(epsilon=_STEM_BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)

    x = _dense_block(x, blocks[0], "conv2")
    _, x = _transition(x, "pool2")
    x = _dense_block(x, blocks[1], "conv3")
    feat8, x = _transition(x, "pool3")
    x = _dense_block(x, blocks[2], "conv4")
    feat16, x = _transition(x, "pool4")
    x = _dense_block(x, blocks[3], "conv5")
    x = BatchNorm(epsilon=BN_EPSILON, name="bn")(x)
    feat32 = layers.Activation("relu", name="relu")(x)
    return feat8, feat16, feat32


def densenet121(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    return densenet_features(inputs, DENSENET_BLOCKS["densenet121"])
