"""nets.layers.BatchNorm (the fused kernel) against Keras' BatchNormalization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nets.layers import BatchNorm


def _pair(epsilon=1e-3, momentum=0.99, **kwargs):
    ours, theirs = (
        BatchNorm(epsilon=epsilon, momentum=momentum, **kwargs),
        keras.layers.BatchNormalization(epsilon=epsilon, momentum=momentum, **kwargs),
    )
    for layer in (ours, theirs):
        layer.build((None, 6, 5, 4))
    rng = np.random.default_rng(0)
    weights = [
        rng.uniform(0.5, 1.5, 4),
        rng.normal(size=4),
        rng.normal(size=4),
        rng.uniform(0.5, 2.0, 4),
    ]
    for layer in (ours, theirs):
        layer.set_weights([w.astype(np.float32) for w in weights][: len(layer.weights)])
    return ours, theirs


@pytest.mark.parametrize("training", [True, False])
def test_outputs_gradients_and_moving_statistics_equal_keras(training):
    ours, theirs = _pair()
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (3, 6, 5, 4)), tf.float32)
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(4, dtype=tf.float32))
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append((y.numpy(), [g.numpy() for g in grads], [w.numpy() for w in layer.weights]))
    (y1, g1, w1), (y2, g2, w2) = results
    np.testing.assert_allclose(y1, y2, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    for a, b in zip(w1, w2):  # moving mean and variance updated alike (or left alone)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    fresh = _pair()[0].get_weights()
    assert np.allclose(w1[2], fresh[2]) is not training  # the statistics moved in training only


def test_frozen_layer_uses_moving_statistics_in_training_mode():
    ours, theirs = _pair()
    ours.trainable = theirs.trainable = False
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 6, 5, 4)), tf.float32)
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean.numpy(), _pair()[0].moving_mean.numpy())


def test_mixed_precision_and_other_ranks_fall_back_cleanly():
    ours, theirs = _pair()
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 6, 5, 4)), tf.bfloat16)
    y = ours(x, training=True)
    assert y.dtype == tf.float32  # a float32 layer, like Keras' (policy float32)
    flat = BatchNorm()
    assert flat(tf.ones((3, 7)), training=True).shape == (3, 7)  # 2-D: Keras' own path


def test_saved_and_reloaded_as_keras_file(tmp_path):
    inputs = keras.Input((6, 5, 4))
    model = keras.Model(inputs, BatchNorm(name="bn")(inputs))
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    assert isinstance(again.get_layer("bn"), BatchNorm)
