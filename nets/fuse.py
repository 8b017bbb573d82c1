"""Inference-only model rewrite: fold each BatchNormalization into the convolution before it.

In inference mode a BatchNormalization is a per-channel affine map, so conv + BN equals one
convolution with a scaled kernel and a bias. Keras 3 runs BN as separate element-wise ops, which
cost about a quarter of the CPU time of these small networks; the folded copy computes the same
outputs faster. Used by :class:`utils.inference.detector.Detector` when the weights are fixed.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf


class _PassThrough(keras.layers.Layer):
    """Stands in for a BatchNormalization folded into the convolution before it."""

    def call(self, inputs, mask=None, training=None):
        return inputs


class _BiasAddConv2D(keras.layers.Conv2D):
    """Conv2D whose bias goes through tf.nn.bias_add, the pattern TensorFlow's graph optimiser
    fuses with the convolution and a following ReLU6 into one oneDNN kernel."""

    def call(self, inputs):
        outputs = tf.nn.conv2d(
            inputs,
            self.kernel,
            strides=self.strides,
            padding=self.padding.upper(),
            dilations=self.dilation_rate,
        )
        return tf.nn.bias_add(outputs, self.bias) if self.use_bias else outputs


class _BiasAddDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D with tf.nn.bias_add (see :class:`_BiasAddConv2D`)."""

    def call(self, inputs):
        outputs = tf.nn.depthwise_conv2d(
            inputs,
            self.kernel,
            strides=(1,) + self.strides + (1,),
            padding=self.padding.upper(),
            dilations=self.dilation_rate,
        )
        return tf.nn.bias_add(outputs, self.bias) if self.use_bias else outputs


_FAST_CONV = {
    keras.layers.Conv2D: _BiasAddConv2D,
    keras.layers.DepthwiseConv2D: _BiasAddDepthwiseConv2D,
}


def _foldable_pairs(model: keras.Model) -> dict[str, keras.layers.BatchNormalization]:
    """{conv layer name: bn layer} for every BN whose only input is a conv used only by it."""
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        parents = layer._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            continue
        conv = parents[0].operation
        if (
            type(conv) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
            and len(conv._inbound_nodes) == 1
            and len(conv._outbound_nodes) == 1
            and layer.axis in (-1, 3)
            and not layer.renorm
        ):
            pairs[conv.name] = layer
    return pairs


def _folded_weights(
    conv: keras.layers.Conv2D | keras.layers.DepthwiseConv2D,
    bn: keras.layers.BatchNormalization,
) -> list[np.ndarray]:
    """Kernel and bias of ``conv`` followed by inference-mode ``bn``, as one convolution."""
    weights = conv.get_weights()
    kernel = weights[0]
    bias = (
        weights[1]
        if conv.use_bias
        else np.zeros(
            kernel.shape[-1]
            * (kernel.shape[-2] if isinstance(conv, keras.layers.DepthwiseConv2D) else 1),
            np.float32,
        )
    )
    mean = np.asarray(bn.moving_mean)
    var = np.asarray(bn.moving_variance)
    gamma = np.asarray(bn.gamma) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta) if bn.center else np.zeros_like(mean)
    factor = gamma / np.sqrt(var + bn.epsilon)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        # Output channel c * multiplier + m comes from kernel[..., c, m].
        kernel = kernel * factor.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        kernel = kernel * factor
    return [kernel.astype(np.float32), ((bias - mean) * factor + beta).astype(np.float32)]


def fold_batchnorm(model: keras.Model, check_input_size: tuple[int, int] = (64, 64)) -> keras.Model:
    """An inference copy of ``model`` with each conv + BatchNormalization pair merged into one
    convolution with a bias (about a quarter faster on CPU, same outputs).

    It is a snapshot: later changes to ``model``'s weights do not reach the copy. The copy is
    checked against the original on a random input; on any problem the original is returned.
    """
    pairs = _foldable_pairs(model)
    if not pairs:
        return model
    folded_bns = {bn.name for bn in pairs.values()}

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name in folded_bns:
            return _PassThrough(name=layer.name)
        if layer.name in pairs:
            config["use_bias"] = True
        cls = type(layer)
        if (
            cls in _FAST_CONV
            and config.get("data_format", "channels_last") == "channels_last"
            and config.get("groups", 1) == 1
        ):
            cls = _FAST_CONV[cls]
        return cls.from_config(config)

    try:
        fused = keras.models.clone_model(model, clone_function=clone_layer)
        originals = {layer.name: layer for layer in model.layers}
        for layer in fused.layers:
            source = originals[layer.name]
            if layer.name in pairs:
                layer.set_weights(_folded_weights(source, pairs[layer.name]))
            elif layer.weights:
                layer.set_weights(source.get_weights())
        shape = model.inputs[0].shape
        height = shape[1] or check_input_size[0]
        width = shape[2] or check_input_size[1]
        probe = tf.random.stateless_uniform((1, height, width, 3), seed=(1, 2))
        for a, b in zip(model(probe, training=False), fused(probe, training=False)):
            a, b = np.asarray(a), np.asarray(b)
            if not np.allclose(a, b, atol=1e-3 * max(1.0, float(np.abs(a).max())), rtol=0):
                raise ValueError(f"outputs differ by {np.abs(a - b).max():.2e}")
    except Exception as exc:
        warnings.warn(f"batch-norm folding skipped ({exc}); using the model as it is", stacklevel=2)
        return model
    for attr in ("backbone_name", "alpha", "num_classes"):
        if hasattr(model, attr):
            setattr(fused, attr, getattr(model, attr))
    return fused
