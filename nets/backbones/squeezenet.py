"""SqueezeNet 1.1 (Iandola et al., 2016; the 1.1 variant of the official repository).

Fire modules: a 1x1 "squeeze" convolution, then parallel 1x1 and 3x3 "expand" convolutions
whose outputs are concatenated; ReLU after each convolution, biases, no batch norm.

For detection the layers are the classifier's, with two changes that leave every weight shape
as it is (so the ImageNet file loads into all 25 convolutions by name):

* 'same' padding on the stem convolution and the poolings, so any input that is a multiple
  of 32 gives grids of exactly 1/8, 1/16 and 1/32 of it;
* a fourth pooling before fire8, so fire8 and fire9 run at stride 32. The classifier pools
  three times (stride 16 at fire9); the features are taken after fire5 (stride 8, 256
  channels), fire7 (stride 16, 384) and fire9 (stride 32, 512).

Layer names are ``conv1``, ``fire<N>_squeeze1x1``, ``fire<N>_expand1x1``, ``fire<N>_expand3x3``
(``/`` in the ImageNet file's names reads as ``_``). The ImageNet weights were trained on Caffe's
input (BGR, 0-255, ImageNet mean subtracted); :class:`CaffeInput` turns the detector's RGB input
in [0, 1] into that, so the pretrained filters see what they were trained on.
"""

from __future__ import annotations

import keras
from keras import layers

from nets.backbones import BackboneFeatures

# ImageNet channel means in BGR order, as Caffe subtracts them.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="yolov4_lite")
class CaffeInput(layers.Layer):
    """RGB in [0, 1] -> BGR in [0, 255] minus the ImageNet mean (Caffe's preprocessing)."""

    def call(self, x):
        bgr = keras.ops.flip(x, axis=-1) * 255.0
        return bgr - keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)


# (squeeze, expand) filters of fire2 .. fire9.
_FIRES = {
    2: (16, 64),
    3: (16, 64),
    4: (32, 128),
    5: (32, 128),
    6: (48, 192),
    7: (48, 192),
    8: (64, 256),
    9: (64, 256),
}


def _fire(x, index):
    squeeze, expand = _FIRES[index]
    name = f"fire{index}"
    x = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze1x1")(x)
    left = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(x)
    right = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(x)
    return layers.Concatenate(name=f"{name}_concat")([left, right])


def _pool(x, name):
    return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)


def squeezenet(inputs: keras.KerasTensor, alpha: float = 1.0) -> BackboneFeatures:
    """Stride 8 / 16 / 32 features of SqueezeNet 1.1 (``alpha`` must be 1.0)."""
    x = CaffeInput(name="caffe_input")(inputs)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = _pool(x, "pool1")  # stride 4
    x = _fire(_fire(x, 2), 3)
    x = _pool(x, "pool3")  # stride 8
    feat8 = _fire(_fire(x, 4), 5)
    x = _pool(feat8, "pool5")  # stride 16
    feat16 = _fire(_fire(x, 6), 7)
    x = _pool(feat16, "pool7")  # stride 32
    feat32 = _fire(_fire(x, 8), 9)
    return feat8, feat16, feat32


def squeezenet_classifier(
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3), classes: int = 1000
) -> keras.Model:
    """The ImageNet classifier of SqueezeNet 1.1 as published (valid padding, ceil-mode pools
    emulated by 'same', three poolings, dropout, a 1x1 convolution to the classes, ReLU,
    global average pooling): 1,235,496 parameters for 1000 classes."""
    inputs = keras.Input(input_shape)
    x = CaffeInput(name="caffe_input")(inputs)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(x)
    x = _pool(x, "pool1")
    x = _fire(_fire(x, 2), 3)
    x = _pool(x, "pool3")
    x = _fire(_fire(x, 4), 5)
    x = _pool(x, "pool5")
    for index in (6, 7, 8, 9):
        x = _fire(x, index)
    x = layers.Dropout(0.5, name="drop9")(x)
    x = layers.Conv2D(classes, 1, activation="relu", name="conv10")(x)
    x = layers.GlobalAveragePooling2D(name="avgpool10")(x)
    return keras.Model(inputs, layers.Softmax(name="softmax")(x), name="squeezenet1_1")
