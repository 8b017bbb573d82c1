"""The fused optimisers take Keras' steps: same variables, same formulas, one kernel each."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils.training.optimizer import FusedAdamW, FusedSGD, build_optimizer


def _run(optimizer, steps=5):
    """Variables after ``steps`` updates with fixed pseudo-random gradients (traced step)."""
    rng = np.random.default_rng(0)
    kernel = keras.Variable(rng.normal(size=(3, 3, 4, 8)).astype(np.float32), name="kernel")
    gamma = keras.Variable(np.ones(8, np.float32), name="gamma")
    variables = [kernel, gamma]
    optimizer.build(variables)
    grads = [
        [tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables]
        for _ in range(steps)
    ]

    @tf.function
    def step(gradients):
        optimizer.apply_gradients(zip(gradients, variables))

    for gradients in grads:
        step(gradients)
        optimizer.learning_rate.assign(optimizer.learning_rate * 0.5)  # as the LR callback does
    return [v.numpy() for v in variables] + [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize(
    "fused, plain",
    [
        (
            lambda: FusedAdamW(learning_rate=0.01, beta_1=0.937, weight_decay=5e-4),
            lambda: keras.optimizers.AdamW(learning_rate=0.01, beta_1=0.937, weight_decay=5e-4),
        ),
        (
            lambda: FusedSGD(learning_rate=0.01, momentum=0.937, nesterov=True, weight_decay=5e-4),
            lambda: keras.optimizers.SGD(
                learning_rate=0.01, momentum=0.937, nesterov=True, weight_decay=5e-4
            ),
        ),
    ],
    ids=["adamw", "sgd-nesterov"],
)
def test_fused_update_equals_keras(fused, plain):
    fused, plain = fused(), plain()
    for optimizer in (fused, plain):
        optimizer.exclude_from_weight_decay(var_names=["gamma"])
    got, want = _run(fused), _run(plain)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # The steps moved the kernel (so the comparison is not between untouched arrays).
    initial_kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 8))
    assert np.abs(got[0] - initial_kernel).max() > 1e-3


def test_fused_step_graph_is_small():
    """One kernel per variable: the traced update has a few ops per variable, not ~40."""
    variables = [keras.Variable(np.zeros((4, 4), np.float32), name=f"w{i}") for i in range(20)]
    counts = {}
    for name in ("adam", "sgd"):
        optimizer = build_optimizer(name, 1e-3, weight_decay=0.0)
        optimizer.build(variables)
        grads = [tf.ones((4, 4))] * len(variables)
        graph = (
            tf.function(lambda g, o=optimizer: o.apply_gradients(zip(g, variables)))
            .get_concrete_function(grads)
            .graph
        )
        counts[name] = len(graph.get_operations()) / len(variables)
    assert counts["adam"] < 16 and counts["sgd"] < 12, counts
