"""MobileNetV2 (Sandler et al., 2018) with Keras Applications layer names.

Layer names match ``keras.applications.MobileNetV2`` (``Conv1``, ``bn_Conv1``,
``block_N_expand`` ...) so ImageNet backbone files load by name, and the graph keeps the
reference's explicit ZeroPadding before every stride-2 convolution so the depth-sorted layer
order (the order reference weight files are stored in) is the same. The 1280-channel head conv
is left out: the detector taps blocks 5, 12 and 16.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm, make_divisible, relu6

# BatchNorm settings of Keras Applications' MobileNetV2, which the reference reuses.
_BN = dict(epsilon=1e-3, momentum=0.999)
# Padding before a stride-2 3x3 'valid' conv; equals 'same' on even sizes. The reference
# computes it from the input size, which gives this for any even size and for None.
_STRIDE2_PAD = ((0, 1), (0, 1))

# (output channels at alpha 1, stride, expansion) for blocks 0..16.
_BLOCKS = [
    (16, 1, 1),
    (24, 2, 6),
    (24, 1, 6),
    (32, 2, 6),
    (32, 1, 6),
    (32, 1, 6),
    (64, 2, 6),
    (64, 1, 6),
    (64, 1, 6),
    (64, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (160, 2, 6),
    (160, 1, 6),
    (160, 1, 6),
    (320, 1, 6),
]
_TAPS = (5, 12, 16)  # blocks whose outputs are the stride 8, 16 and 32 features


def _inverted_residual(x, filters, strides, expansion, block_id):
    """Expand 1x1, depthwise 3x3 (both ReLU6), linear 1x1 projection, residual if shapes match."""
    in_channels = x.shape[-1]
    inputs = x
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(
            expansion * in_channels, 1, padding="same", use_bias=False, name=prefix + "expand"
        )(x)
        x = BatchNorm(**_BN, name=prefix + "expand_BN")(x)
        x = relu6(prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if strides == 2:
        x = layers.ZeroPadding2D(_STRIDE2_PAD, name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(
        3,
        strides=strides,
        use_bias=False,
        padding="same" if strides == 1 else "valid",
        name=prefix + "depthwise",
    )(x)
    x = BatchNorm(**_BN, name=prefix + "depthwise_BN")(x)
    x = relu6(prefix + "depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = BatchNorm(**_BN, name=prefix + "project_BN")(x)
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=prefix + "add")([inputs, x])
    return x


def mobilenetv2(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    x = layers.ZeroPadding2D(_STRIDE2_PAD, name="Conv1_pad")(inputs)
    x = layers.Conv2D(
        make_divisible(32 * alpha), 3, strides=2, padding="valid", use_bias=False, name="Conv1"
    )(x)
    x = BatchNorm(**_BN, name="bn_Conv1")(x)
    x = relu6("Conv1_relu")(x)
    features = []
    for block_id, (filters, strides, expansion) in enumerate(_BLOCKS):
        x = _inverted_residual(
            x, make_divisible(int(filters * alpha)), strides, expansion, block_id
        )
        if block_id in _TAPS:
            features.append(x)
    return tuple(features)
