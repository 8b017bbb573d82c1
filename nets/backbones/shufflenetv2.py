"""ShuffleNetV2 (Ma et al., 2018) at widths 0.5, 1.0, 1.5 and 2.0.

Each unit splits its channels in two halves (stride 1) or feeds the whole input to two
branches (stride 2); the branch outputs are concatenated and the channels shuffled between the
two groups. The stem is a stride-2 3x3 convolution and a stride-2 max pool, so stages 2, 3 and
4 end at strides 8, 16 and 32: those are the three feature levels (stage 4 before the
classifier's 1x1 ``conv5``). Widths and repeats are the paper's (torchvision's
``shufflenet_v2_x*``). No ImageNet checkpoint is reachable without PyTorch: the backbone trains
from random initialisation.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm

# Output channels of conv1, stage 2, 3, 4 and conv5 per width; units per stage.
_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
_REPEATS = (4, 8, 4)


@keras.saving.register_keras_serializable(package="yolov4_lite")
class ChannelShuffle(layers.Layer):
    """Interleave the channels of ``groups`` groups: (.., g * n) -> (.., n * g)."""

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, x):
        shape = keras.ops.shape(x)
        channels = x.shape[-1]
        x = keras.ops.reshape(x, (-1, shape[1], shape[2], self.groups, channels // self.groups))
        x = keras.ops.transpose(x, (0, 1, 2, 4, 3))
        return keras.ops.reshape(x, (-1, shape[1], shape[2], channels))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def _conv_bn(x, filters, name, relu=True):
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = BatchNorm(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _dw_bn(x, strides, name):
    x = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    return BatchNorm(epsilon=1e-5, name=f"{name}_dw_bn")(x)


def _unit(x, out_channels, strides, name):
    half = out_channels // 2
    if strides == 1:
        keep, x = x[..., :half], x[..., half:]
    else:
        keep = _dw_bn(x, strides, f"{name}_branch1")
        keep = _conv_bn(keep, half, f"{name}_branch1_pw")
    y = _conv_bn(x, half, f"{name}_branch2_pw1")
    y = _dw_bn(y, strides, f"{name}_branch2")
    y = _conv_bn(y, half, f"{name}_branch2_pw2")
    out = layers.Concatenate(name=f"{name}_concat")([keep, y])
    return ChannelShuffle(2, name=f"{name}_shuffle")(out)


def _stem_and_stages(inputs, alpha):
    channels = _CHANNELS[float(alpha)]
    x = layers.Conv2D(channels[0], 3, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = BatchNorm(epsilon=1e-5, name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    stages = []
    for stage, (repeats, out_channels) in enumerate(zip(_REPEATS, channels[1:4]), start=2):
        for unit in range(repeats):
            x = _unit(x, out_channels, 2 if unit == 0 else 1, f"stage{stage}_unit{unit + 1}")
        stages.append(x)
    return stages, channels


def shufflenetv2(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    """Stride 8 / 16 / 32 features: the outputs of stages 2, 3 and 4."""
    stages, _ = _stem_and_stages(inputs, alpha)
    return tuple(stages)


def shufflenetv2_classifier(
    alpha: float = 1.0,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    classes: int = 1000,
) -> keras.Model:
    """The ImageNet classifier (conv5, global pooling, a dense layer): its trainable
    parameters equal torchvision's ``shufflenet_v2_x*`` (BatchNorm running statistics are
    Keras weights but not PyTorch parameters)."""
    inputs = keras.Input(input_shape)
    stages, channels = _stem_and_stages(inputs, alpha)
    x = _conv_bn(stages[-1], channels[4], "conv5")
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = layers.Dense(classes, name="fc")(x)
    return keras.Model(inputs, x, name=f"shufflenetv2_{alpha:g}")
