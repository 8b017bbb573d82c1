"""MobileNetV1 (Howard et al., 2017) with Keras Applications layer names.

Layer names match ``keras.applications.MobileNet`` so ImageNet backbone files load by name.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures
from nets.layers import BatchNorm, relu6

# (pointwise filters at alpha 1, stride of the depthwise conv) for blocks 1..13.
_BLOCKS = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
]


def _depthwise_block(x, filters, strides, block_id):
    x = layers.DepthwiseConv2D(
        3, padding="same", strides=strides, use_bias=False, name=f"conv_dw_{block_id}"
    )(x)
    x = BatchNorm(name=f"conv_dw_{block_id}_bn")(x)
    x = relu6(f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = BatchNorm(name=f"conv_pw_{block_id}_bn")(x)
    return relu6(f"conv_pw_{block_id}_relu")(x)


def mobilenetv1(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = BatchNorm(name="conv1_bn")(x)
    x = relu6("conv1_relu")(x)
    features = {}
    for block_id, (filters, strides) in enumerate(_BLOCKS, start=1):
        x = _depthwise_block(x, int(filters * alpha), strides, block_id)
        features[block_id] = x
    return features[5], features[11], features[13]
