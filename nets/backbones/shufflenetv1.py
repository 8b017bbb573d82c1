"""ShuffleNetV1 (Zhang et al., 2017) with 3 groups, at widths 0.5, 1.0, 1.5 and 2.0.

A unit is a grouped 1x1 convolution to a quarter of its output channels, a channel shuffle, a
3x3 depthwise convolution (stride 2 in a stage's first unit) and a grouped 1x1 convolution; the
shortcut is added (stride 1), or average-pooled and concatenated (stride 2); ReLU at the end.
The first unit's first convolution is not grouped (its input, the stem, is small). The stem is a
stride-2 3x3 convolution and a stride-2 max pool, so stages 2, 3 and 4 end at strides 8, 16 and
32: the three feature levels. No ImageNet checkpoint is reachable without PyTorch: the backbone
trains from random initialisation.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.backbones.shufflenetv2 import ChannelShuffle
from nets.layers import BatchNorm

GROUPS = 3
# Stem and stage 2 / 3 / 4 output channels per width, for 3 groups.
_CHANNELS = {
    0.5: (12, 120, 240, 480),
    1.0: (24, 240, 480, 960),
    1.5: (24, 360, 720, 1440),
    2.0: (48, 480, 960, 1920),
}
_REPEATS = (4, 8, 4)


def _bn(x, name, relu=False):
    x = BatchNorm(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _group_conv(x, filters, groups, name):
    """1x1 convolution in ``groups`` independent channel groups, written as one convolution per
    group: Keras' ``groups=`` runs through XLA on CPUs and does not export to ONNX."""
    if groups == 1:
        return layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
    step = x.shape[-1] // groups
    parts = [
        layers.Conv2D(filters // groups, 1, use_bias=False, name=f"{name}_g{g}")(
            x[..., g * step : (g + 1) * step]
        )
        for g in range(groups)
    ]
    return layers.Concatenate(name=f"{name}_concat")(parts)


def _unit(x, out_channels, strides, grouped_input, name):
    in_channels = x.shape[-1]
    mid = out_channels // 4
    branch_out = out_channels - in_channels if strides == 2 else out_channels
    groups = GROUPS if grouped_input else 1
    y = _group_conv(x, mid, groups, f"{name}_gconv1")
    y = _bn(y, f"{name}_gconv1", relu=True)
    if groups > 1:
        y = ChannelShuffle(groups, name=f"{name}_shuffle")(y)
    y = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw"
    )(y)
    y = _bn(y, f"{name}_dw")
    y = _group_conv(y, branch_out, GROUPS, f"{name}_gconv2")
    y = _bn(y, f"{name}_gconv2")
    if strides == 2:
        shortcut = layers.AveragePooling2D(
            3, strides=2, padding="same", name=f"{name}_shortcut_pool"
        )(x)
        out = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    else:
        out = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_out_relu")(out)


def _stages(inputs, alpha):
    channels = _CHANNELS[float(alpha)]
    x = layers.Conv2D(channels[0], 3, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = _bn(x, "conv1", relu=True)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    outputs = []
    for stage, (repeats, out_channels) in enumerate(zip(_REPEATS, channels[1:]), start=2):
        for unit in range(repeats):
            x = _unit(
                x,
                out_channels,
                2 if unit == 0 else 1,
                grouped_input=not (stage == 2 and unit == 0),
                name=f"stage{stage}_unit{unit + 1}",
            )
        outputs.append(x)
    return outputs


def shufflenetv1(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    """Stride 8 / 16 / 32 features: the outputs of stages 2, 3 and 4."""
    return tuple(_stages(inputs, alpha))


def shufflenetv1_classifier(
    alpha: float = 1.0,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    classes: int = 1000,
) -> keras.Model:
    """The ImageNet classifier (global pooling and a dense layer after stage 4)."""
    inputs = keras.Input(input_shape)
    x = _stages(inputs, alpha)[-1]
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = layers.Dense(classes, name="fc")(x)
    return keras.Model(inputs, x, name=f"shufflenetv1_g3_{alpha:g}")
