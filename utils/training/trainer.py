"""The training model (custom train/test steps around the YOLO loss), LR schedules, optimisers
and freezing by backbone membership.

``YoloTrainer`` wraps a ``yolo_body`` model without changing it: the body keeps its own layers
and weights (so checkpoints stay reference-compatible) while the wrapper's ``train_step``
computes the loss parts and tracks them as metrics ``box``, ``obj``, ``cls`` and ``loss``.
"""
import functools
import math
import os
import warnings
from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from nets.loss import YoloLoss
from utils.config import ANCHORS_MASK

# The reference scales the learning rate with the batch size against a nominal batch of 64 and
# clamps the result to a range that depends on the optimiser (REFERENCE_NOTES section 1).
NOMINAL_BATCH = 64
LR_LIMITS = {"adam": (3e-4, 1e-3), "sgd": (5e-4, 5e-2)}
# Neck/head layer names start with one of these (nets/yolo.py); everything else is backbone.
NECK_PREFIXES = ("p3_", "p4_", "p5_", "spp_", "head_")
# The neck layers that consume the backbone's stride 8, 16 and 32 outputs.
_NECK_ENTRY_LAYERS = ("p3_lateral_conv", "p4_lateral_conv", "p5_pre_1_conv")
LOSS_PARTS = ("box", "obj", "cls")


class YoloTrainer(keras.Model):
    """A Keras model that trains ``body`` with ``loss_fn`` (a :class:`nets.loss.YoloLoss`).

    Data are ``(images, (y_true_p5, y_true_p4, y_true_p3, gt_boxes))``. ``fit`` and
    ``evaluate`` report ``loss`` (total) and its parts ``box``, ``obj``, ``cls``.
    """

    def __init__(self, body, loss_fn, **kwargs):
        super().__init__(**kwargs)
        self.body = body
        self.loss_fn = loss_fn
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss",) + LOSS_PARTS}

    def call(self, images, training=False):
        return self.body(images, training=training)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _compute(self, data, training):
        images, targets = data
        y_true, gt_boxes = list(targets[:3]), targets[3]
        outputs = self.body(images, training=training)
        return self.loss_fn(y_true, outputs, gt_boxes)

    def _update(self, parts):
        self.trackers["loss"].update_state(parts["total"])
        for name in LOSS_PARTS:
            self.trackers[name].update_state(parts[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        variables = self.body.trainable_variables
        with tf.GradientTape() as tape:
            parts = self._compute(data, training=True)
            loss = parts["total"]
            scaled = self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") \
                else loss
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._update(parts)

    def test_step(self, data):
        return self._update(self._compute(data, training=False))


# ----------------------------------------------------------------------------- learning rate
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
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * (progress - warmup_epochs) / span))


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
    raise ValueError(f"unknown LR schedule {schedule!r}; choose cos or step")


# ----------------------------------------------------------------------------- optimiser
def build_optimizer(name, learning_rate, momentum=0.937, weight_decay=5e-4,
                    mixed_precision=False):
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
        raise ValueError(f"unknown optimizer {name!r}; choose adam or sgd")
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


# ----------------------------------------------------------------------------- freezing
def backbone_layer_names(model):
    """Names of the layers that belong to the backbone of a ``yolo_body`` model.

    Found by walking the graph back from the three backbone outputs (the inputs of the neck's
    entry layers): exactly the layers those outputs depend on. Falls back to the neck name
    prefixes when the entry layers are absent (a custom neck).
    """
    try:
        outputs = [model.get_layer(name).input for name in _NECK_ENTRY_LAYERS]
    except ValueError:
        return {layer.name for layer in model.layers
                if not layer.name.startswith(NECK_PREFIXES)
                and not isinstance(layer, keras.layers.InputLayer)}
    sub = keras.Model(model.inputs, outputs)
    return {layer.name for layer in sub.layers if not isinstance(layer, keras.layers.InputLayer)}


def set_backbone_frozen(model, frozen):
    """Freeze (or unfreeze) exactly the backbone layers; returns how many layers changed.

    Frozen BatchNorm layers also run in inference mode (Keras semantics), as in the reference.
    """
    names = backbone_layer_names(model)
    for layer in model.layers:
        if layer.name in names:
            layer.trainable = not frozen
        elif not frozen:
            layer.trainable = True
    return len(names)


# ----------------------------------------------------------------------------- the run
@dataclass
class TrainSettings:
    """Everything a training run needs besides the data (train.py fills it from flags)."""
    backbone: str = "mobilenetv1"
    alpha: float = 1.0
    input_size: tuple = (416, 416)
    freeze_epochs: int = 5
    epochs: int = 60
    batch_size: int = 8
    freeze_batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "cos"
    warmup_epochs: float = None
    momentum: float = 0.937
    weight_decay: float = 5e-4
    mosaic: float = 0.5
    mixup: float = 0.5
    aug_off_ratio: float = 0.7
    label_smoothing: float = 0.0
    focal_loss: bool = False
    save_dir: str = "logs"
    save_period: int = 0
    eval_period: int = 10
    eval_conf: float = 0.01
    seed: int = None
    workers: int = None
    mixed_precision: bool = False
    jit_compile: bool = False
    verbose: int = 1

    def phases(self):
        """[(name, first_epoch, end_epoch, batch_size)] for the frozen and unfrozen phases."""
        freeze = min(max(int(self.freeze_epochs), 0), int(self.epochs))
        result = []
        if freeze > 0:
            result.append(("frozen", 0, freeze, int(self.freeze_batch_size)))
        if self.epochs > freeze:
            result.append(("unfrozen", freeze, int(self.epochs), int(self.batch_size)))
        return result

    def lr_function(self, batch_size):
        """progress (epochs) -> LR for a phase trained at ``batch_size``."""
        init, minimum = scaled_learning_rates(self.lr, batch_size, self.optimizer)
        return functools.partial(learning_rate_at, schedule=self.lr_schedule,
                                 total_epochs=self.epochs, lr=init, min_lr=minimum,
                                 warmup_epochs=self.warmup_epochs)


@dataclass
class TrainResult:
    """How a run ended."""
    epochs_done: int
    stopped_by_nan: bool
    best_metric: float
    best_mode: str
    history: list
    save_dir: str


def train_detector(settings, body, train_samples, val_samples, class_names, anchors,
                   resume_state=None, extra_callbacks=(), pipeline=None, evaluate=None,
                   record=None):
    """Train ``body`` (already initialised) through the frozen and unfrozen phases.

    Args:
        settings: a :class:`TrainSettings`.
        body: the ``yolo_body`` model to train in place.
        train_samples, val_samples: dataset samples (``utils.data.datasets``); ``val_samples`` may be
            empty (no validation loss, no mAP).
        class_names, anchors: class list and (9, 2) anchors in input pixels.
        resume_state: ``(state, arrays)`` from ``utils.training.callbacks.load_training_state``.
        extra_callbacks: more Keras callbacks (tests use them to interrupt a run).
        pipeline, evaluate: the ``utils.data.pipeline`` and ``utils.evaluation.evaluate`` modules (injectable
            for tests; imported by default).
        record: extra JSON-able settings stored in the training state (train.py's flags).

    Returns a :class:`TrainResult`. ``KeyboardInterrupt`` propagates after the last finished
    epoch's checkpoint and state are on disk.
    """
    from utils.training import callbacks as cb
    # Keras warns about the tf.data shuffle flag and the end of the (finite) validation data.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")
    if pipeline is None:
        from utils.data import pipeline
    if settings.seed is not None:
        keras.utils.set_random_seed(int(settings.seed))

    num_classes = len(class_names)
    os.makedirs(settings.save_dir, exist_ok=True)
    loss_fn = YoloLoss(anchors, num_classes, ANCHORS_MASK,
                       label_smoothing=settings.label_smoothing, focal_loss=settings.focal_loss,
                       compact_gt=not settings.jit_compile)
    trainer = YoloTrainer(body, loss_fn, name="yolo_trainer")
    context = cb.TrainingContext(body, settings.save_dir, settings.epochs,
                                 settings=_jsonable({**asdict(settings), **(record or {})}))
    start_epoch = 0
    if resume_state is not None:
        state, arrays = resume_state
        cb.restore_weights(body, arrays)
        start_epoch = int(state["epoch"])
        context.best_metric, context.best_mode = state.get("best_metric"), state.get("best_mode")
        context.history = [row for row in state.get("history", []) if row["epoch"] <= start_epoch]
        context.last_completed_epoch = start_epoch
    special_aug = tf.Variable(True, trainable=False, dtype=tf.bool, name="special_aug")
    aug_off_epoch = int(round(settings.aug_off_ratio * settings.epochs))

    evaluate_fn = None
    if val_samples and settings.eval_period > 0:
        evaluate_fn = _map_evaluator(body, val_samples, class_names, anchors, settings, evaluate)

    val_ds = None
    phase_name = {"current": None}
    for name, first, end, batch_size in settings.phases():
        if end <= start_epoch:
            continue
        phase_name["current"] = name
        begin = max(first, start_epoch)
        if len(train_samples) < batch_size:
            raise ValueError(f"the training split has {len(train_samples)} images, fewer than "
                             f"one batch of {batch_size}: lower the batch size")
        steps = len(train_samples) // batch_size
        set_backbone_frozen(body, frozen=(name == "frozen"))
        optimizer = build_optimizer(settings.optimizer, 1e-4, settings.momentum,
                                    settings.weight_decay, settings.mixed_precision)
        trainer.compile(optimizer=optimizer, jit_compile=settings.jit_compile)
        if resume_state is not None and begin == start_epoch and start_epoch > 0 \
                and resume_state[0].get("phase") == name:
            cb.restore_optimizer(optimizer, trainer.body.trainable_variables, resume_state[1])
        train_ds = pipeline.build_train_dataset(
            train_samples, settings.input_size, anchors, num_classes, batch_size,
            anchors_mask=ANCHORS_MASK, mosaic=settings.mosaic, mixup=settings.mixup,
            seed=settings.seed, workers=settings.workers, special_aug=special_aug)
        if val_samples and val_ds is None:
            val_ds = pipeline.build_val_dataset(val_samples, settings.input_size, anchors,
                                                num_classes, settings.batch_size,
                                                anchors_mask=ANCHORS_MASK)
        callbacks = [
            cb.StepLearningRate(settings.lr_function(batch_size), steps),
            cb.AugmentationSwitch(special_aug, aug_off_epoch),
            cb.NanGuard(context),
        ]
        if evaluate_fn is not None:
            callbacks.append(cb.MapEvaluation(context, evaluate_fn, settings.eval_period))
        callbacks += [
            cb.HistoryWriter(context, batch_size, steps),
            cb.Checkpointer(context, lambda: trainer.optimizer, lambda: phase_name["current"],
                            settings.save_period),
        ]
        if tensorboard_available():
            callbacks.append(keras.callbacks.TensorBoard(
                os.path.join(settings.save_dir, "tensorboard"), write_graph=False,
                profile_batch=0))
        callbacks += list(extra_callbacks)
        trainer.fit(train_ds.repeat(), steps_per_epoch=steps, initial_epoch=begin, epochs=end,
                    validation_data=val_ds, callbacks=callbacks, verbose=settings.verbose,
                    shuffle=False)  # the tf.data pipeline shuffles itself
        if context.nan_detected:
            break
    return TrainResult(context.last_completed_epoch, context.nan_detected, context.best_metric,
                       context.best_mode, context.history, settings.save_dir)


def tensorboard_available():
    """TensorBoard logging needs the ``tensorboard`` package (tf.summary's implementation)."""
    import importlib.util
    return importlib.util.find_spec("tensorboard") is not None


def _map_evaluator(body, samples, class_names, anchors, settings, evaluate):
    """A function epoch -> VOC mAP@0.5 (0-1) on ``samples`` with the current weights."""
    from utils.inference.detector import Detector
    if evaluate is None:
        from utils.evaluation import evaluate
    holder = {}

    def run(epoch):
        if "detector" not in holder:
            holder["detector"] = Detector(body, class_names, anchors=anchors,
                                          input_size=settings.input_size, letterbox=True,
                                          conf=settings.eval_conf, nms_iou=0.5, max_boxes=100)
        result = evaluate.evaluate_detector(holder["detector"], samples, class_names,
                                            progress=False)
        return float(result["voc"]["0.5"]["mAP"])
    return run


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


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
    from nets import WeightsMismatchError, load_weights
    init_head_priors(body)
    if weights is not None and str(weights).lower() == "none":
        return "weights: random initialisation (--weights none)"
    from utils.hub import resolve_weights
    path = resolve_weights(backbone, alpha, weights)
    report = load_weights(body, path, skip_mismatch=True)
    wrong = [name for name, _ in report.skipped if not name.startswith("head_")]
    if wrong:
        raise WeightsMismatchError(f"{path} does not fit the {backbone} alpha {alpha:g} model: "
                                   f"{report.summary()}")
    note = ""
    if report.skipped:
        moved = transfer_head_box_channels(body, path, [name for name, _ in report.skipped])
        note = (" (the file has another class count: box and objectness channels of "
                f"{moved} heads carried over, class channels start fresh)")
    return f"weights: {report.summary()}{note}"


def _head_layers(body):
    """{level name: output conv layer} of the three heads."""
    return {name: body.get_layer(f"head_{name}_out") for name in ("p5", "p4", "p3")}


def init_head_priors(body, objects_per_image=8, input_side=640):
    """Bias the fresh heads towards 'background' and uniform classes (YOLOv5's prior).

    Objectness bias log(8 / cells) per level and class bias log(0.6 / (C - 0.99)), so a new head
    starts with a small, sensible loss instead of predicting an object everywhere.
    """
    num_classes = int(body.num_classes)
    for name, stride in (("p5", 32), ("p4", 16), ("p3", 8)):
        layer = body.get_layer(f"head_{name}_out")
        kernel, bias = layer.get_weights()
        per_anchor = 5 + num_classes
        for a in range(bias.shape[0] // per_anchor):
            bias[a * per_anchor + 4] = math.log(objects_per_image / (input_side / stride) ** 2)
            bias[a * per_anchor + 5:(a + 1) * per_anchor] = math.log(
                0.6 / max(num_classes - 0.99, 0.01))
        layer.set_weights([kernel, bias])


def transfer_head_box_channels(body, path, skipped):
    """Copy the (tx, ty, tw, th, obj) channels of each anchor from a detector file whose heads
    have another class count; returns how many heads received them."""
    from nets.weights import read_legacy_h5, weighted_layers
    try:
        groups = read_legacy_h5(path)
    except Exception:  # a Keras 3 file: nothing to carry over
        return 0
    layers = weighted_layers(body)
    if len(groups) != len(layers):
        return 0
    moved = 0
    per_anchor = 5 + int(body.num_classes)
    for layer, (_, arrays) in zip(layers, groups):
        if layer.name not in skipped or len(arrays) != 2:
            continue
        kernel, bias = layer.get_weights()
        src_kernel, src_bias = arrays
        anchors = bias.shape[0] // per_anchor
        if src_kernel.shape[:3] != kernel.shape[:3] or src_bias.shape[0] % anchors:
            continue
        src_per_anchor = src_bias.shape[0] // anchors
        for a in range(anchors):
            dst, src = a * per_anchor, a * src_per_anchor
            kernel[..., dst:dst + 5] = src_kernel[..., src:src + 5]
            bias[dst:dst + 5] = src_bias[src:src + 5]
        layer.set_weights([kernel, bias])
        moved += 1
    return moved
