"""MobileNetV3-Large (Howard et al., 2019), graph-identical to the reference implementation.

Layer names follow ``keras.applications.MobileNetV3Large`` (``Conv``, ``expanded_conv_N/expand``
...) with '/' written as '_', which Keras 3 requires; the weight loader maps '/' to '_' when it
matches by name. The node structure copies the reference so the depth-sorted layer order (the
order reference weight files are stored in) is the same:

* the stem's hard-swish is one Activation layer;
* a block's hard-swish is two layers, Activation(hard-sigmoid) then Multiply;
* squeeze-excite is GlobalAveragePooling, Reshape, Conv+bias, ReLU, Conv+bias, Activation
  (hard-sigmoid), Multiply.

Hard-sigmoid is relu6(x + 3) / 6 throughout, as in the reference. The final 960-channel conv is
left out: the detector taps blocks 5, 11 and 14.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm, hard_sigmoid_v3, hard_swish, make_divisible

_STEM_CHANNELS = 16  # not scaled by alpha
_SE_RATIO = 0.25

# (depthwise kernel, expansion, output channels at alpha 1, squeeze-excite, activation, stride)
# for blocks 0..14; the expansion multiplies the block's input channels.
_BLOCKS = [
    (3, 1, 16, False, "relu", 1),
    (3, 4, 24, False, "relu", 2),
    (3, 3, 24, False, "relu", 1),
    (5, 3, 40, True, "relu", 2),
    (5, 3, 40, True, "relu", 1),
    (5, 3, 40, True, "relu", 1),
    (3, 6, 80, False, "hard_swish", 2),
    (3, 2.5, 80, False, "hard_swish", 1),
    (3, 2.3, 80, False, "hard_swish", 1),
    (3, 2.3, 80, False, "hard_swish", 1),
    (3, 6, 112, True, "hard_swish", 1),
    (3, 6, 112, True, "hard_swish", 1),
    (5, 6, 160, True, "hard_swish", 2),
    (5, 6, 160, True, "hard_swish", 1),
    (5, 6, 160, True, "hard_swish", 1),
]
_TAPS = (5, 11, 14)  # blocks whose outputs are the stride 8, 16 and 32 features


def _block_activation(x, activation, name):
    if activation == "relu":
        return layers.Activation("relu", name=f"{name}_relu")(x)
    gate = layers.Activation(hard_sigmoid_v3, name=f"{name}_hard_sigmoid")(x)
    return layers.Multiply(name=f"{name}_hard_swish")([gate, x])


def _squeeze_excite(x, channels, prefix):
    """Channel gate: pool, 1x1 reduce (ReLU), 1x1 expand, hard-sigmoid, scale."""
    reduced = make_divisible(channels * _SE_RATIO)
    s = layers.GlobalAveragePooling2D(name=prefix + "squeeze_excite_AvgPool")(x)
    s = layers.Reshape((1, 1, channels), name=prefix + "reshape")(s)
    s = layers.Conv2D(reduced, 1, padding="same", name=prefix + "squeeze_excite_Conv")(s)
    s = layers.Activation("relu", name=prefix + "squeeze_excite_Relu")(s)
    s = layers.Conv2D(channels, 1, padding="same", name=prefix + "squeeze_excite_Conv_1")(s)
    s = layers.Activation(hard_sigmoid_v3, name=prefix + "squeeze_excite_hard_sigmoid")(s)
    return layers.Multiply(name=prefix + "squeeze_excite_Mul")([s, x])


def _bottleneck(x, kernel, expansion, filters, use_se, activation, strides, block_id):
    """Expand 1x1, depthwise kxk, optional squeeze-excite, linear 1x1 projection, residual."""
    in_channels = x.shape[-1]
    inputs = x
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    channels = make_divisible(in_channels * expansion)
    if block_id:
        x = layers.Conv2D(channels, 1, padding="same", use_bias=False, name=prefix + "expand")(x)
        x = BatchNorm(name=prefix + "expand_BatchNorm")(x)
        x = _block_activation(x, activation, prefix + "expand")
    x = layers.DepthwiseConv2D(
        kernel, strides=strides, padding="same", use_bias=False, name=prefix + "depthwise"
    )(x)
    x = BatchNorm(name=prefix + "depthwise_BatchNorm")(x)
    x = _block_activation(x, activation, prefix + "depthwise")
    if use_se:
        x = _squeeze_excite(x, channels, prefix)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = BatchNorm(name=prefix + "project_BatchNorm")(x)
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=prefix + "Add")([inputs, x])
    return x


def mobilenetv3(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    x = layers.Conv2D(_STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="Conv")(
        inputs
    )
    x = BatchNorm(name="Conv_BatchNorm")(x)
    x = layers.Activation(hard_swish, name="Conv_hard_swish")(x)
    features = []
    for block_id, (kernel, expansion, filters, use_se, activation, strides) in enumerate(_BLOCKS):
        x = _bottleneck(
            x,
            kernel,
            expansion,
            make_divisible(filters * alpha),
            use_se,
            activation,
            strides,
            block_id,
        )
        if block_id in _TAPS:
            features.append(x)
    return tuple(features)
