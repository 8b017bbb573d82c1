"""Preparing the model for a run: initial weights (with head transfer), backbone freezing and
the mixed-precision policy."""

from nets.errors import WeightsMismatchError
from nets.head import head_layers, init_head_priors, transfer_box_channels
from nets.weights import load_weights, read_head_arrays
from nets.yolo import backbone_layer_names
from utils.hub import resolve_weights


def initialise_weights(body, weights, backbone, alpha):
    """Load the initial weights of a training run; returns a one-line description.

    ``weights``: None (the published VOC weights of backbone/alpha, via ``utils.hub``),
    'none' (random initialisation) or a file (a detector checkpoint, possibly for another class
    count; or an ImageNet backbone file, matched by layer name).

    Heads that do not come from the file start with objectness/class priors (few objects per
    cell), and when the file is a detector for another class count its class-agnostic head
    channels (box and objectness of each anchor) are carried over: only the class channels
    start fresh, so fine-tuning starts from a model that already finds and boxes objects.
    Raises ``WeightsMismatchError`` when more than the class-dependent heads do not fit.
    """
    init_head_priors(body)
    if weights is not None and str(weights).lower() == "none":
        return "weights: random initialisation (--weights none)"
    path = resolve_weights(backbone, alpha, weights)
    report = load_weights(body, path, skip_mismatch=True)
    # Only the head outputs depend on the class count; anything else means another model.
    head_names = {layer.name for layer in head_layers(body).values()}
    wrong = [name for name, _ in report.skipped if name not in head_names]
    if wrong:
        raise WeightsMismatchError(
            f"{path} does not fit the {backbone} alpha {alpha:g} model: {report.summary()}"
        )
    note = ""
    if report.skipped:
        skipped = {name for name, _ in report.skipped}
        moved = transfer_box_channels(body, read_head_arrays(path, body, skipped))
        note = (
            " (the file has another class count: box and objectness channels of "
            f"{moved} heads carried over, class channels start fresh)"
        )
    return f"weights: {report.summary()}{note}"


def set_backbone_frozen(model, frozen):
    """Freeze (or unfreeze) exactly the backbone layers; returns how many layers are backbone.

    Frozen BatchNorm layers also run in inference mode (Keras semantics), as in the reference.
    """
    names = backbone_layer_names(model)
    for layer in model.layers:
        if layer.name in names:
            layer.trainable = not frozen
        elif not frozen:
            layer.trainable = True
    return len(names)


def set_batchnorm_synchronized(model, synchronized):
    """Make every BatchNormalization layer of ``model`` compute its batch statistics over all
    replicas (``synchronized``) or per replica; takes effect at the next trace."""
    import keras

    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = bool(synchronized)
            count += 1
    return count


def batchnorm_statistics(model):
    """The moving mean and variance variables of every BatchNormalization layer of ``model``."""
    import keras

    return [
        v
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def mixed_precision_policy() -> str:
    """float16 where a GPU computes (with loss scaling), bfloat16 on CPUs (no scaling needed)."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
