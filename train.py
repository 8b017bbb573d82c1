"""Train or fine-tune YOLOv4-lite on a VOC folder, a COCO dataset or a YOLO data.yaml.

Examples:
    python train.py --backbone mobilenetv1 --alpha 0.25 --data VOCdevkit/VOC2007 \\
        --classes model_data/raccoon_classes.txt --save-dir logs/raccoon
    python train.py --save-dir logs/raccoon --resume          # continue an interrupted run
    python train.py --data my-project/data.yaml --save-dir logs/mine        # YOLO txt labels
    python train.py --data coco/ --weights none   # annotations/instances_{train,val}2017.json

Outputs in --save-dir: last.h5 and best.h5 (load them with predict.py --weights), classes.txt,
history.csv (losses, learning rate, mAP per epoch), loss.png, map.png, tensorboard/, and the
resumable state train_state.json + train_state.npz.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from utils.cli import (
    EXIT_INTERRUPTED,
    ArgumentParser,
    UsageError,
    add_model_options,
    apply_max_pixels,
    check_model_options,
    check_range,
    check_seed,
    run_cli,
)
from utils.options import LR_PER_64, add_options, default, detection_defaults

if TYPE_CHECKING:  # TensorFlow loads only once the strategy is chosen
    import keras
    import numpy as np

    from utils.data import Sample
    from utils.training import TrainSettings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "train"


def defaults_note():
    """The epilog of --help: what the defaults add up to (values read from the options table)."""
    evaluation = detection_defaults("eval")
    return (
        f"Defaults are tuned to fine-tune fast from the VOC weights: "
        f"{default('optimizer', MODE)} (decoupled weight decay {default('weight_decay', MODE):g}) "
        f"at {LR_PER_64[default('optimizer', MODE)]:g} per 64 images, scaled to the batch and "
        f"clamped as the reference does; cosine schedule with warm-up; a short frozen-backbone "
        f"phase; mosaic {default('mosaic', MODE):g} and mixup {default('mixup', MODE):g} "
        f"switched off after {default('aug_off_ratio', MODE) * 100:.0f}% of the epochs. The mAP "
        f"during training is measured like get_map.py's (conf {evaluation['conf']:g}, NMS IoU "
        f"{evaluation['nms_iou']:g}). Objects marked difficult stay out of the training targets "
        f"(as the original does) and out of the mAP. Ctrl-C keeps last.h5 (last finished epoch) "
        f"and writes interrupted.h5; --resume continues from the last finished epoch."
    )


class TrainArgumentParser(ArgumentParser):
    """With --resume, the run's saved flags become the defaults (flags given now win)."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        parsed.explicit = self._given_flags(args)
        if parsed.resume:
            from utils.config import ConfigError
            from utils.training.state import saved_flags

            try:
                self.set_defaults(**saved_flags(parsed.save_dir))
            except ConfigError as exc:
                self.error(str(exc))
            parsed = super().parse_args(args, namespace)
            parsed.explicit = self._given_flags(args)
        return parsed

    def _given_flags(self, args):
        """Destinations of the flags given on the command line (not left at their default)."""
        defaults = {action.dest: action.default for action in self._actions}
        try:
            for action in self._actions:
                action.default = argparse.SUPPRESS
            return sorted(vars(super().parse_args(args)))
        finally:
            for action in self._actions:
                action.default = defaults[action.dest]


def build_parser():
    parser = TrainArgumentParser(
        description="Train or fine-tune YOLOv4-lite on a VOC or COCO format dataset.",
        epilog=defaults_note(),
    )
    add_model_options(parser, MODE)
    add_options(
        parser.add_argument_group("data"),
        (
            "data",
            "data_format",
            "train_split",
            "val_split",
            "coco_images",
            "train_slice",
            "max_pixels",
        ),
        MODE,
    )
    add_options(
        parser.add_argument_group("schedule"),
        (
            "epochs",
            "freeze_epochs",
            "random_init_epochs",
            "batch_size",
            "freeze_batch_size",
            "optimizer",
            "lr",
            "lr_schedule",
            "warmup_epochs",
            "momentum",
            "weight_decay",
        ),
        MODE,
    )
    add_options(
        parser.add_argument_group("augmentation and loss"),
        ("mosaic", "mixup", "multi_scale", "aug_off_ratio", "label_smoothing", "focal_loss", "ema"),
        MODE,
    )
    add_options(
        parser.add_argument_group("deprecated"),
        ("coco_json", "val_coco_json", "val_coco_images"),
        MODE,
    )
    add_options(
        parser.add_argument_group("output and run"),
        (
            "save_dir",
            "save_period",
            "eval_period",
            "resume",
            "seed",
            "workers",
            "mixed_precision",
            "jit_compile",
            "quiet",
        ),
        MODE,
    )
    add_options(
        parser.add_argument_group("several devices or machines"),
        ("distribute", "cpu_replicas", "sync_bn"),
        MODE,
    )
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work."""
    if args.data is None:
        raise UsageError(
            "give a dataset: --data PATH (a VOC folder, a COCO .json or a YOLO data.yaml)"
        )
    check_model_options(args)
    check_range(args.epochs, "--epochs", 1)
    check_range(args.freeze_epochs, "--freeze-epochs", 0)
    check_range(args.random_init_epochs, "--random-init-epochs", 1)
    # BatchNorm needs two images per batch.
    check_range(args.batch_size, "--batch-size", 2)
    check_range(args.freeze_batch_size, "--freeze-batch-size", 2)
    for flag in ("mosaic", "mixup", "aug_off_ratio"):
        check_range(getattr(args, flag), "--" + flag.replace("_", "-"), 0.0, 1.0)
    check_range(args.label_smoothing, "--label-smoothing", 0.0, 1.0, high_open=True)
    if args.lr is not None:
        check_range(args.lr, "--lr", 0.0, low_open=True)
    check_range(args.momentum, "--momentum", 0.0, 1.0, high_open=True)
    check_range(args.weight_decay, "--weight-decay", 0.0)
    if args.warmup_epochs is not None:
        check_range(args.warmup_epochs, "--warmup-epochs", 0.0)
    if args.workers is not None:
        check_range(args.workers, "--workers", 1, 256)
    check_range(args.save_period, "--save-period", 0)
    check_range(args.eval_period, "--eval-period", 0)
    check_range(args.cpu_replicas, "--cpu-replicas", 1, 64)
    check_seed(args)
    apply_max_pixels(args)
    if args.train_slice is not None:
        from utils.config import ConfigError, parse_input_size

        try:
            args.train_slice = parse_input_size(args.train_slice)
        except ConfigError as exc:
            raise UsageError(f"--train-slice: {exc}") from None
    if args.cpu_replicas > 1 and args.distribute not in ("mirrored", "auto"):
        raise UsageError("--cpu-replicas needs --distribute mirrored")


def plan_random_initialisation(args):
    """A backbone without pretrained weights trains from scratch: say so, and unless the epochs
    were given, train longer and never frozen (a random backbone has nothing to keep)."""
    from utils.hub import pretrained_name

    if args.weights is None and pretrained_name(args.backbone, args.alpha) is None:
        print(
            f"{args.backbone} alpha {args.alpha:g} has no published weights: training from "
            f"random initialisation (give --weights FILE for ImageNet backbone weights, "
            f"see the README)"
        )
        args.weights = "none"
    if args.weights is None or str(args.weights).lower() != "none":
        return
    if "epochs" not in args.explicit:
        args.epochs = args.random_init_epochs
    if "freeze_epochs" not in args.explicit:
        args.freeze_epochs = 0
    print(f"random initialisation: {args.epochs} epochs, {args.freeze_epochs} frozen")


@dataclass
class TrainingJob:
    """What ``run`` prepares before training: the settings, the initialised model, the data."""

    settings: TrainSettings
    body: keras.Model  # yolo_body, with its initial or resumed weights
    anchors: np.ndarray
    class_names: list[str]
    train_samples: list[Sample]
    val_samples: list[Sample]
    resume_state: tuple[dict, dict] | None  # (state, arrays) of the run continued by --resume


def run(args):
    """Everything train.py does, given parsed arguments; returns the exit status."""
    check_args(args)
    distribution = choose_distribution(args)
    job = prepare_job(args, distribution)
    from utils import files

    if distribution.is_chief:
        from utils.config import ANCHORS_FILE
        from utils.data.anchors import format_anchors

        text = "\n".join(job.class_names) + "\n"
        files.write_text(os.path.join(args.save_dir, "classes.txt"), text)
        # Beside the checkpoints, where predict.py, get_map.py and export.py look for them.
        anchors_text = format_anchors(job.anchors) + "\n"
        files.write_text(os.path.join(args.save_dir, ANCHORS_FILE), anchors_text)
    from utils.training.run_report import print_settings, report_result, settings_rows

    print_settings(
        settings_rows(
            args,
            job.settings,
            job.class_names,
            job.train_samples,
            job.val_samples,
            job.resume_state,
            distribution,
        )
    )
    start = time.perf_counter()
    try:
        result = train_job(args, job, distribution)
    except KeyboardInterrupt:
        return save_interrupted(job.body, args.save_dir, distribution)
    minutes = (time.perf_counter() - start) / 60
    return report_result(result, args, job.settings, distribution, minutes)


def choose_distribution(args):
    """The distribution strategy, chosen before any other TensorFlow work (multi-worker
    collectives, logical CPU devices); the batch sizes must split between its replicas."""
    from utils.quiet import import_tensorflow_quietly

    def choose_strategy():
        from utils.training.distribute import make_strategy

        return make_strategy(args.distribute, args.cpu_replicas)

    distribution = import_tensorflow_quietly(choose_strategy)
    from utils.training.distribute import check_global_batch

    check_global_batch(args.batch_size, distribution.num_replicas)
    if args.freeze_epochs:
        check_global_batch(args.freeze_batch_size, distribution.num_replicas, "--freeze-batch-size")
    return distribution


def prepare_job(args, distribution):
    """Read the class list, anchors, data and any state to resume; build and initialise the
    model; turn the flags into training settings."""
    import keras

    from utils.config import load_class_names, parse_input_size
    from utils.training import TrainSettings
    from utils.training.run_data import add_training_tiles, load_data, training_anchors
    from utils.training.state import load_training_state

    input_size = parse_input_size(args.input_size)
    if args.anchors != "auto":  # a bad file fails before the data is read
        anchors = training_anchors(args, input_size, [])
    class_names = load_class_names(args.classes) if args.classes else None
    train_samples, val_samples, class_names = load_data(args, class_names)
    if not train_samples:
        raise UsageError("the training split has no usable images")
    epoch_images = None
    if args.train_slice:
        epoch_images = len(train_samples)
        train_samples = add_training_tiles(args, train_samples)
    if args.anchors == "auto":
        anchors = training_anchors(args, input_size, train_samples)
    resume_state = load_training_state(args.save_dir) if args.resume else None
    if resume_state is None:
        plan_random_initialisation(args)
    body = build_body(args, input_size, len(class_names), distribution, resume_state)
    settings = TrainSettings.from_args(
        args,
        input_size=input_size,
        epoch_images=epoch_images,
        mixed_precision=keras.mixed_precision.global_policy().name == "mixed_float16",
        verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
    )
    return TrainingJob(
        settings, body, anchors, class_names, train_samples, val_samples, resume_state
    )


def build_body(args, input_size, num_classes, distribution, resume_state):
    """The yolo_body model in the strategy's scope; a new run's gets its initial weights (a
    resumed run's come from its state)."""
    import keras

    from nets import yolo_body
    from utils.training.model_setup import initialise_weights, mixed_precision_policy

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(mixed_precision_policy())
    if args.seed is not None:  # seeds the random initial weights too
        keras.utils.set_random_seed(int(args.seed))
    with distribution.strategy.scope():
        # A multi-scale run's batches come in several sizes: the model takes any.
        shape = (None, None) if args.multi_scale else input_size
        body = yolo_body(shape, num_classes=num_classes, backbone=args.backbone, alpha=args.alpha)
    if resume_state is None:
        print(initialise_weights(body, args.weights, args.backbone, args.alpha))
    return body


def train_job(args, job, distribution):
    """The trained run's ``TrainResult``; a full disk's error says what the run kept."""
    from utils import files
    from utils.training import train_detector

    try:
        return train_detector(
            job.settings,
            job.body,
            job.train_samples,
            job.val_samples,
            job.class_names,
            job.anchors,
            resume_state=job.resume_state,
            record={"args": vars(args)},
            distribution=distribution,
        )
    except files.DiskFullError as exc:
        from utils.training.run_report import progress_kept

        raise files.DiskFullError(exc.errno, f"{exc}; {progress_kept(args.save_dir)}") from None


def save_interrupted(body, save_dir, distribution):
    """After Ctrl-C the chief keeps the current weights in interrupted.h5 and says how to go
    on; returns the exit status."""
    from utils.training.state import save_checkpoint

    if not distribution.is_chief:
        return EXIT_INTERRUPTED
    path = save_checkpoint(body, os.path.join(save_dir, "interrupted.h5"))
    print(
        f"\ninterrupted: {path} holds the current weights; last.h5 the last finished "
        f"epoch. Continue with: python train.py --save-dir {save_dir} --resume",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def main(argv=None):
    # run() imports TensorFlow itself, after choosing the distribution strategy.
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
