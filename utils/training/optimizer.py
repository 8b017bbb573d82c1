"""The optimisers: AdamW or SGD with Nesterov momentum, decoupled weight decay."""
import keras

from utils.config import ConfigError
from utils.options import default


def build_optimizer(name, learning_rate, momentum=default("momentum"),
                    weight_decay=default("weight_decay"), mixed_precision=False):
    """Adam (AdamW-style decoupled decay, beta_1 = momentum) or SGD with Nesterov momentum.

    Weight decay is decoupled from the gradient (so Adam's adaptive scaling does not weaken it)
    and not applied to BatchNorm parameters or biases.
    """
    if name == "adam":
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, beta_1=momentum,
                                           weight_decay=weight_decay)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum,
                                         nesterov=True, weight_decay=weight_decay or None)
    else:
        raise ConfigError(f"unknown optimizer {name!r}; choose adam or sgd")
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
