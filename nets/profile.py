"""Parameter and FLOP counts of a built model (pure computation, no I/O)."""

from __future__ import annotations

import keras
from keras import layers


def count_flops(model: keras.Model) -> int:
    """Floating-point operations of one forward pass (2 x multiply-adds of conv/dense layers).

    Counts Conv2D, DepthwiseConv2D and Dense layers, which hold nearly all the arithmetic of a
    YOLOv4-lite model; BatchNorm, activations, pooling and resizing are left out, as is usual.
    The model must have a fixed input size.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, height, width, channels = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            total += height * width * channels * kernel_h * kernel_w
        elif isinstance(layer, layers.Conv2D):
            _, height, width, filters = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            in_channels = layer.input.shape[-1] // layer.groups
            total += height * width * filters * kernel_h * kernel_w * in_channels
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return 2 * int(total)


def model_profile(model: keras.Model) -> dict[str, int | float]:
    """{'params', 'trainable_params', 'gflops'} for a model with a fixed input size."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return {
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "gflops": round(count_flops(model) / 1e9, 4),
    }
