"""MnasNet (Tan et al., 2019): B1 (no squeeze-excite) and A1 (squeeze-excite in three stages).

Both are a stride-2 stem, a depthwise-separable block, then six stages of inverted residual
blocks (1x1 expansion, kxk depthwise, 1x1 projection; a residual when shapes allow). Stages 2,
4 and 6 end at strides 8, 16 and 32: those are the three feature levels. Widths follow the
depth multiplier with channels rounded to multiples of 8 (never more than 10% down); the
classifier head (1x1 to 1280, pooling, dense) is the published one.

Layer names follow timm's parameter names (``conv_stem``, ``bn1``,
``blocks_<stage>_<block>_conv_pw`` ...) so that ``convert_weights.py`` can map its MnasNet
checkpoints onto them one to one.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm, make_divisible

BN_EPSILON = 1e-5
# Per stage after the stem block: (kernel, stride, expansion, channels at 1.0, repeats, SE).
_B1 = (
    (3, 2, 3, 24, 3, False),
    (5, 2, 3, 40, 3, False),
    (5, 2, 6, 80, 3, False),
    (3, 1, 6, 96, 2, False),
    (5, 2, 6, 192, 4, False),
    (3, 1, 6, 320, 1, False),
)
_A1 = (
    (3, 2, 6, 24, 2, False),
    (5, 2, 3, 40, 3, True),
    (3, 2, 6, 80, 4, False),
    (3, 1, 6, 112, 2, True),
    (5, 2, 6, 160, 3, True),
    (3, 1, 6, 320, 1, False),
)
# Stage indices (0 = the stem's depthwise block) whose outputs are the stride 8/16/32 levels.
_FEATURE_STAGES = (2, 4, 6)


def _width(channels, alpha):
    return make_divisible(channels * alpha, 8)


def _bn(x, name):
    return BatchNorm(epsilon=BN_EPSILON, name=name)(x)


def _squeeze_excite(x, reduced, name):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = layers.Conv2D(reduced, 1, activation="relu", name=f"{name}_conv_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_conv_expand")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def _inverted_residual(x, out_channels, kernel, strides, expansion, se, name):
    in_channels = x.shape[-1]
    mid = in_channels * expansion
    y = layers.Conv2D(mid, 1, use_bias=False, name=f"{name}_conv_pw")(x)
    y = layers.ReLU(name=f"{name}_relu1")(_bn(y, f"{name}_bn1"))
    y = layers.DepthwiseConv2D(
        kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv_dw"
    )(y)
    y = layers.ReLU(name=f"{name}_relu2")(_bn(y, f"{name}_bn2"))
    if se:  # reduced to a quarter of the block's input channels
        y = _squeeze_excite(y, max(1, int(in_channels * 0.25)), f"{name}_se")
    y = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{name}_conv_pwl")(y)
    y = _bn(y, f"{name}_bn3")
    if strides == 1 and in_channels == out_channels:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def _body(inputs, alpha, stages):
    """Stem, stem block and stages; returns the output of every stage."""
    x = layers.Conv2D(
        _width(32, alpha), 3, strides=2, padding="same", use_bias=False, name="conv_stem"
    )(inputs)
    x = layers.ReLU(name="stem_relu")(_bn(x, "bn1"))
    # Stage 0: depthwise 3x3 + pointwise to 16 (no expansion, no residual).
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="blocks_0_0_conv_dw")(x)
    x = layers.ReLU(name="blocks_0_0_relu")(_bn(x, "blocks_0_0_bn1"))
    x = layers.Conv2D(_width(16, alpha), 1, use_bias=False, name="blocks_0_0_conv_pw")(x)
    x = _bn(x, "blocks_0_0_bn2")
    outputs = [x]
    for stage, (kernel, strides, expansion, channels, repeats, se) in enumerate(stages, 1):
        for block in range(repeats):
            x = _inverted_residual(
                x,
                _width(channels, alpha),
                kernel,
                strides if block == 0 else 1,
                expansion,
                se,
                f"blocks_{stage}_{block}",
            )
        outputs.append(x)
    return outputs


def mnasnet_b1(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    """Stride 8 / 16 / 32 features of MnasNet-B1 at depth multiplier ``alpha``."""
    outputs = _body(inputs, alpha, _B1)
    return tuple(outputs[i] for i in _FEATURE_STAGES)


def mnasnet_a1(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    """Stride 8 / 16 / 32 features of MnasNet-A1 (squeeze-excite in stages 2, 4 and 5)."""
    outputs = _body(inputs, alpha, _A1)
    return tuple(outputs[i] for i in _FEATURE_STAGES)


def mnasnet_classifier(
    variant: str = "b1",
    alpha: float = 1.0,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    classes: int = 1000,
) -> keras.Model:
    """The ImageNet classifier: conv_head 1x1 to 1280, pooling, a dense layer."""
    inputs = keras.Input(input_shape)
    x = _body(inputs, alpha, _B1 if variant == "b1" else _A1)[-1]
    x = layers.Conv2D(1280, 1, use_bias=False, name="conv_head")(x)
    x = layers.ReLU(name="head_relu")(_bn(x, "bn2"))
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(classes, name="classifier")(x)
    return keras.Model(inputs, x, name=f"mnasnet_{variant}_{alpha:g}")
