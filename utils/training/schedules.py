"""Learning rates: the reference's batch-size scaling, and the cosine and step schedules.

A schedule is a pure function of the position in epochs (fractional), so a resumed run
continues the same curve.
"""

import functools
import math

from utils.config import ConfigError

# The reference scales the learning rate with the batch size against a nominal batch of 64 and
# clamps the result to a range that depends on the optimiser.
NOMINAL_BATCH = 64
LR_LIMITS = {"adam": (3e-4, 1e-3), "sgd": (5e-4, 5e-2)}


def scaled_learning_rates(lr, batch_size, optimizer):
    """(initial, minimum) LR after the reference's batch-size scaling and clamps.

    ``lr`` is the user's LR for a batch of 64; the minimum is 1% of it.
    """
    low, high = LR_LIMITS[optimizer]
    init = min(max(batch_size / NOMINAL_BATCH * lr, low), high)
    minimum = min(max(batch_size / NOMINAL_BATCH * lr * 0.01, low * 0.01), high * 0.01)
    return init, minimum


def cosine_lr(progress, total_epochs, lr, min_lr, warmup_epochs=None):
    """YOLOX-style LR at ``progress`` epochs (fractional) of ``total_epochs``.

    Quadratic warm-up from max(0.1 lr, 1e-6) over ``warmup_epochs`` (default
    min(max(0.05 E, 1), 3)), cosine decay, and the last min(max(0.05 E, 1), 15) epochs at
    ``min_lr``.
    """
    if warmup_epochs is None:
        warmup_epochs = min(max(0.05 * total_epochs, 1), 3)
    flat_epochs = min(max(0.05 * total_epochs, 1), 15)
    warmup_start = max(0.1 * lr, 1e-6)
    if warmup_epochs > 0 and progress < warmup_epochs:
        return (lr - warmup_start) * (progress / warmup_epochs) ** 2 + warmup_start
    if progress >= total_epochs - flat_epochs:
        return min_lr
    span = max(total_epochs - warmup_epochs - flat_epochs, 1e-9)
    return min_lr + 0.5 * (lr - min_lr) * (
        1 + math.cos(math.pi * (progress - warmup_epochs) / span)
    )


def step_lr(progress, total_epochs, lr, min_lr, steps=10):
    """Ten equal steps from ``lr`` to ``min_lr`` (each x (min/lr)^(1/9)), as the reference."""
    decay = (min_lr / lr) ** (1.0 / (steps - 1))
    step_size = max(total_epochs / steps, 1e-9)
    return lr * decay ** min(int(progress // step_size), steps - 1)


def learning_rate_at(progress, schedule, total_epochs, lr, min_lr, warmup_epochs=None):
    """LR at ``progress`` epochs for schedule 'cos' or 'step'."""
    if schedule == "cos":
        return cosine_lr(progress, total_epochs, lr, min_lr, warmup_epochs)
    if schedule == "step":
        return step_lr(progress, total_epochs, lr, min_lr)
    raise ConfigError(f"unknown LR schedule {schedule!r}; choose cos or step")


def lr_function(lr, batch_size, optimizer, schedule, total_epochs, warmup_epochs=None):
    """progress (epochs) -> LR for a phase trained at ``batch_size`` (``lr`` is per 64 images)."""
    init, minimum = scaled_learning_rates(lr, batch_size, optimizer)
    return functools.partial(
        learning_rate_at,
        schedule=schedule,
        total_epochs=total_epochs,
        lr=init,
        min_lr=minimum,
        warmup_epochs=warmup_epochs,
    )
