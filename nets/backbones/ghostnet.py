"""GhostNet 1.0 (Han et al., 2020) laid out node for node like the reference's Keras port.

Weighted layers carry the reference's timm/PyTorch-style names (``blocks.i.j.ghost1.primary_conv.0``
...), so its weight files also load by name. The graph keeps every weightless node the reference
has (the channel slice after each ghost concat, the SE reshape, ...) because the reference's
.h5 files store layers in Keras' depth-sorted graph order, which those nodes shape.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm, hard_sigmoid_legacy, make_divisible

_RATIO = 2  # ghost ratio: half the channels come from the cheap depthwise operation
_SE_REDUCTION = 4

# (stage.index, output channels, hidden (expanded) channels, kernel, stride, squeeze-excite)
_BLOCKS = [
    ("0.0", 16, 16, 3, 1, False),
    ("1.0", 24, 48, 3, 2, False),
    ("2.0", 24, 72, 3, 1, False),
    ("3.0", 40, 72, 5, 2, True),
    ("4.0", 40, 120, 5, 1, True),
    ("5.0", 80, 240, 3, 2, False),
    ("6.0", 80, 200, 3, 1, False),
    ("6.1", 80, 184, 3, 1, False),
    ("6.2", 80, 184, 3, 1, False),
    ("6.3", 112, 480, 3, 1, True),
    ("6.4", 112, 672, 3, 1, True),
    ("7.0", 160, 672, 5, 2, True),
    ("8.0", 160, 960, 5, 1, False),
    ("8.1", 160, 960, 5, 1, True),
    ("8.2", 160, 960, 5, 1, False),
    ("8.3", 160, 960, 5, 1, True),
]
# Blocks whose outputs feed the neck (strides 8, 16, 32).
_FEATURE_BLOCKS = ("4.0", "6.4", "8.3")


@keras.saving.register_keras_serializable(package="yolov4_lite")
class ChannelSlice(layers.Layer):
    """x[..., start:end] as a single graph node (the reference used one Lambda here)."""

    def __init__(self, start, end, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.end = int(end)

    def call(self, inputs):
        return inputs[..., self.start : self.end]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.end - self.start,)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "end": self.end}


def _conv_bn(x, filters, name, relu):
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}.0")(x)
    x = BatchNorm(name=f"{name}.1")(x)
    return layers.Activation("relu", name=f"{name}.relu")(x) if relu else x


def _ghost_module(x, out_channels, name, relu):
    """1x1 conv to ceil(out/ratio) channels, a cheap 3x3 depthwise on top, concat, slice to out."""
    primary = _conv_bn(x, math.ceil(out_channels / _RATIO), f"{name}.primary_conv", relu)
    cheap = layers.DepthwiseConv2D(
        3,
        padding="same",
        depth_multiplier=_RATIO - 1,
        use_bias=False,
        name=f"{name}.cheap_operation.0",
    )(primary)
    cheap = BatchNorm(name=f"{name}.cheap_operation.1")(cheap)
    if relu:
        cheap = layers.Activation("relu", name=f"{name}.cheap_operation.relu")(cheap)
    x = layers.Concatenate(name=f"{name}.concat")([primary, cheap])
    return ChannelSlice(0, out_channels, name=f"{name}.slice")(x)


def _squeeze_excite(x, channels, name):
    """SE with a bias-carrying 1x1 reduce/expand and the legacy hard-sigmoid gate."""
    s = layers.GlobalAveragePooling2D(name=f"{name}.pool")(x)
    s = layers.Reshape((1, 1, channels), name=f"{name}.reshape")(s)
    s = layers.Conv2D(make_divisible(channels / _SE_REDUCTION, 4), 1, name=f"{name}.conv_reduce")(s)
    s = layers.Activation("relu", name=f"{name}.relu")(s)
    s = layers.Conv2D(channels, 1, name=f"{name}.conv_expand")(s)
    s = layers.Activation(hard_sigmoid_legacy, name=f"{name}.gate")(s)
    return layers.Multiply(name=f"{name}.scale")([x, s])


def _ghost_bottleneck(inputs, out_channels, hidden, kernel, strides, squeeze, name):
    x = _ghost_module(inputs, hidden, f"{name}.ghost1", relu=True)
    if strides > 1:
        x = layers.DepthwiseConv2D(
            kernel,
            strides=strides,
            padding="same",
            depth_multiplier=_RATIO - 1,
            use_bias=False,
            name=f"{name}.conv_dw",
        )(x)
        x = BatchNorm(name=f"{name}.bn_dw")(x)
    if squeeze:
        x = _squeeze_excite(x, hidden, f"{name}.se")
    x = _ghost_module(x, out_channels, f"{name}.ghost2", relu=False)

    if strides == 1 and inputs.shape[-1] == out_channels:
        shortcut = inputs
    else:
        shortcut = layers.DepthwiseConv2D(
            kernel,
            strides=strides,
            padding="same",
            depth_multiplier=_RATIO - 1,
            use_bias=False,
            name=f"{name}.shortcut.0",
        )(inputs)
        shortcut = BatchNorm(name=f"{name}.shortcut.1")(shortcut)
        shortcut = layers.Conv2D(
            out_channels, 1, padding="same", use_bias=False, name=f"{name}.shortcut.2"
        )(shortcut)
        shortcut = BatchNorm(name=f"{name}.shortcut.3")(shortcut)
    # [shortcut, residual]: the reference's input order, which fixes its layer order.
    return layers.Add(name=f"{name}.add")([shortcut, x])


def ghostnet(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = BatchNorm(name="bn1")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    features = {}
    for block_id, out_channels, hidden, kernel, strides, squeeze in _BLOCKS:
        x = _ghost_bottleneck(
            x, out_channels, hidden, kernel, strides, squeeze, name=f"blocks.{block_id}"
        )
        features[block_id] = x
    return tuple(features[block_id] for block_id in _FEATURE_BLOCKS)
