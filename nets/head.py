"""The three YOLO heads: how they are built and named, how their raw outputs decode, and how a
head trained for one class count starts a model with another.

Decoding lives here once and serves both inference (``utils.inference.postprocess``) and the
loss (``nets.loss``), so the two can never disagree about what a raw output means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from numpy.typing import ArrayLike

from nets.anchors import BOX_AND_OBJECTNESS, MAX_LOG_WH
from nets.layers import depthwise_separable

# Head levels in output order, each named after the neck level it reads.
HEAD_LEVELS = ("p5", "p4", "p3")


def head_layer_name(level: str) -> str:
    """Name of the output convolution of head ``level`` ('p5', 'p4' or 'p3')."""
    return f"head_{level}_out"


def build_head(
    x: keras.KerasTensor, filters: int, num_outputs: int, level: str
) -> keras.KerasTensor:
    """Depthwise-separable block, then the 1x1 output convolution (raw logits).

    The output convolution computes in float32 even under a mixed-precision policy: box
    offsets and logits in float16/bfloat16 would round the loss's fine differences away.
    """
    x = depthwise_separable(x, filters, name=f"head_{level}_dwb")
    return layers.Conv2D(
        num_outputs,
        1,
        padding="same",
        use_bias=True,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        kernel_regularizer=keras.regularizers.l2(5e-4),
        dtype="float32",
        name=head_layer_name(level),
    )(x)


def head_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """{level: output convolution layer} of a ``yolo_body`` model."""
    return {level: model.get_layer(head_layer_name(level)) for level in HEAD_LEVELS}


def decode_head(
    raw: tf.Tensor, anchors: ArrayLike, num_classes: int, input_hw: Sequence[int] | tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decode one level's raw output.

    Args:
        raw: (B, H, W, A * (5 + C)) raw head output.
        anchors: (A, 2) anchor (width, height) of this level in input pixels.
        num_classes: C.
        input_hw: (height, width) of the network input (ints or a tensor).

    Returns:
        ``(xy, wh, obj_logits, cls_logits, feats)``: box centres (x, y) and sizes (w, h) as
        fractions of the input, each (B, H, W, A, 2); objectness logits (B, H, W, A); class logits
        (B, H, W, A, C); and ``raw`` reshaped to (B, H, W, A, 5 + C).
        xy = (sigmoid(t_xy) + cell) / grid, wh = exp(min(t_wh, 10)) * anchor / input size.
    """
    anchor_wh = tf.constant(np.asarray(anchors, np.float32).reshape(-1, 2))
    num_anchors = int(anchor_wh.shape[0])
    raw = tf.cast(raw, tf.float32)
    shape = tf.shape(raw)
    grid_h, grid_w = shape[1], shape[2]
    feats = tf.reshape(
        raw, [shape[0], grid_h, grid_w, num_anchors, BOX_AND_OBJECTNESS + num_classes]
    )
    grid_x, grid_y = tf.meshgrid(tf.range(grid_w), tf.range(grid_h))
    cell = tf.cast(tf.stack([grid_x, grid_y], axis=-1), tf.float32)[None, :, :, None, :]
    grid_wh = tf.cast(tf.stack([grid_w, grid_h]), tf.float32)
    input_hw = tf.cast(tf.reshape(tf.convert_to_tensor(input_hw), [2]), tf.float32)
    input_wh = input_hw[::-1]
    # One split rather than four slices: under a gradient tape each slice's gradient is a
    # zero-filled copy of the whole tensor, a split's is one concatenation.
    t_xy, t_wh, obj_logits, cls_logits = tf.split(feats, [2, 2, 1, num_classes], axis=-1)
    xy = (tf.sigmoid(t_xy) + cell) / grid_wh
    wh = tf.exp(tf.minimum(t_wh, MAX_LOG_WH)) * anchor_wh / input_wh
    return xy, wh, obj_logits[..., 0], cls_logits, feats


def init_head_priors(
    model: keras.Model, objects_per_image: float = 8, input_side: int = 640
) -> None:
    """Bias the heads towards 'background' and uniform classes (YOLOv5's prior).

    Objectness bias log(8 / cells) per level and class bias log(0.6 / (C - 0.99)), so a fresh
    head starts with a small, sensible loss instead of predicting an object everywhere.
    """
    num_classes = int(model.num_classes)
    per_anchor = BOX_AND_OBJECTNESS + num_classes
    for layer, stride in zip(head_layers(model).values(), (32, 16, 8)):
        kernel, bias = layer.get_weights()
        for a in range(bias.shape[0] // per_anchor):
            bias[a * per_anchor + 4] = math.log(objects_per_image / (input_side / stride) ** 2)
            bias[a * per_anchor + 5 : (a + 1) * per_anchor] = math.log(
                0.6 / max(num_classes - 0.99, 0.01)
            )
        layer.set_weights([kernel, bias])


def transfer_box_channels(
    model: keras.Model, source_heads: Mapping[str, Sequence[np.ndarray]]
) -> int:
    """Copy the (tx, ty, tw, th, obj) channels of every anchor from heads of another class count.

    Args:
        model: the ``yolo_body`` model receiving them.
        source_heads: {head layer name: (kernel, bias)} read from a detector file.

    Returns how many heads received them (a head whose kernel size or anchor count differs is
    left alone). The class channels keep their values (fresh ones, typically).
    """
    per_anchor = BOX_AND_OBJECTNESS + int(model.num_classes)
    moved = 0
    for layer in head_layers(model).values():
        if layer.name not in source_heads:
            continue
        src_kernel, src_bias = source_heads[layer.name]
        kernel, bias = layer.get_weights()
        anchors = bias.shape[0] // per_anchor
        if src_kernel.shape[:3] != kernel.shape[:3] or src_bias.shape[0] % anchors:
            continue
        src_per_anchor = src_bias.shape[0] // anchors
        for a in range(anchors):
            dst, src = a * per_anchor, a * src_per_anchor
            kernel[..., dst : dst + BOX_AND_OBJECTNESS] = src_kernel[
                ..., src : src + BOX_AND_OBJECTNESS
            ]
            bias[dst : dst + BOX_AND_OBJECTNESS] = src_bias[src : src + BOX_AND_OBJECTNESS]
        layer.set_weights([kernel, bias])
        moved += 1
    return moved
