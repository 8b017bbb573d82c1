"""The weight average: its decay, swapping it in and out, storing and restoring it."""

import numpy as np
import pytest

from utils.training.ema import WeightAverage, decay_for


def _model():
    import keras

    from nets.layers import BatchNorm

    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 1)(inputs)
    return keras.Model(inputs, BatchNorm()(x))


def test_decay_spans_about_two_epochs():
    d_max, ramp = decay_for(100)
    assert d_max == pytest.approx(1 - 1 / 200) and ramp == 100
    assert decay_for(0) == decay_for(1)  # a degenerate epoch length counts as one step


def test_average_follows_the_weights_and_is_swapped_in_and_out():
    model = _model()
    ema = WeightAverage(model, steps_per_epoch=2)
    kernel = model.layers[1].kernel
    start = kernel.numpy().copy()
    assert len(ema.weights) == 6  # kernel, bias, gamma, beta, moving mean/variance
    for _ in range(5):
        kernel.assign(kernel.numpy() + 1.0)
        ema.update()
    raw = kernel.numpy().copy()
    average = ema.averages[0].numpy()
    # Between the start and the current weights, closer to the recent ones as decay ramps.
    assert np.all(average > start) and np.all(average < raw)
    with ema.applied():
        np.testing.assert_array_equal(kernel.numpy(), average)
    np.testing.assert_array_equal(kernel.numpy(), raw)


def test_state_round_trip_and_mismatch():
    model = _model()
    ema = WeightAverage(model)
    model.layers[1].kernel.assign(np.ones_like(model.layers[1].kernel.numpy()))
    ema.update()
    state = ema.state()
    fresh = WeightAverage(_model())
    assert fresh.restore(state)
    for a, b in zip(fresh.averages, ema.averages):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(fresh.updates.numpy()) == 1.0
    assert not fresh.restore(state[:-2])  # another model: nothing restored
