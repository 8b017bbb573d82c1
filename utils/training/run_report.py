"""What train.py tells the user: the settings table before a run, how the run ended, and what
a failed run leaves to continue from."""

from __future__ import annotations

import os
import sys

from nets.errors import UserError


def print_settings(rows):
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 40)
    print(line)
    for key, value in rows:
        print(f"| {key:<{width}} | {value}")
    print(line)


def report_result(result, args, settings, distribution, minutes):
    """Say how the run ended; returns the exit status (1 when the loss became NaN/inf)."""
    if result.stopped_by_nan:
        print(
            f"train.py: stopped: the loss became NaN/inf in epoch {result.epochs_done + 1}. "
            f"{os.path.join(args.save_dir, 'last.h5')} keeps the last good epoch "
            f"({result.epochs_done}). Try a lower --lr, a longer --warmup-epochs or "
            f"--optimizer adam.",
            file=sys.stderr,
        )
        return 1
    if not distribution.is_chief:
        print(
            f"done: {result.epochs_done} epochs in {minutes:.1f} min as "
            f"{distribution.task_type} {distribution.task_index}; the chief wrote the "
            f"checkpoints"
        )
        return 0
    print(
        f"done: {result.epochs_done} epochs in {minutes:.1f} min{best_summary(result)}; "
        f"checkpoints in {args.save_dir} (last.h5, best.h5"
        f"{', weight averages' if settings.ema else ''})"
    )
    return 0


def best_summary(result):
    """'; best mAP@0.5 ...' or '; best val loss ...' for the closing line ('' without one)."""
    if result.best_metric is None:
        return ""
    if result.best_mode == "map50":
        return f"; best mAP@0.5 {result.best_metric:.1%}"
    return f"; best val loss {result.best_metric:.4f}"


def progress_kept(save_dir):
    """What a failed run leaves to continue from, for its error message."""
    from utils.training.state import load_training_state

    try:
        epoch = load_training_state(save_dir)[0]["epoch"]
    except (FileNotFoundError, UserError):
        return "no epoch had finished"
    return (
        f"{save_dir} keeps epoch {epoch} complete (last.h5 and the training state): free "
        f"some space, then continue with python train.py --save-dir {save_dir} --resume"
    )


def _multi_scale_text(settings):
    if not settings.multi_scale:
        return ""
    from utils.data.pipeline import multi_scale_sizes

    sizes = multi_scale_sizes(settings.input_size)
    first, last = ("x".join(str(v) for v in size) for size in (sizes[0], sizes[-1]))
    return f"; multi-scale {first} to {last} ({len(sizes)} sizes)"


def settings_rows(
    args, settings, class_names, train_samples, val_samples, resume_state, distribution=None
):
    """(name, value) rows of the settings table printed before training."""
    rows = [
        ("backbone", f"{args.backbone} alpha {args.alpha:g}"),
        (
            "classes",
            f"{len(class_names)}: {', '.join(class_names[:10])}"
            + (" ..." if len(class_names) > 10 else ""),
        ),
        ("images", f"{len(train_samples)} train, {len(val_samples)} validation"),
        ("input size", f"{settings.input_size[0]}x{settings.input_size[1]}"),
    ]
    for name, first, end, bs in settings.phases():
        schedule = settings.lr_function(bs).keywords
        rows.append(
            (
                f"{name} phase",
                (
                    f"epochs {first + 1}-{end}, batch {bs}, "
                    f"{(settings.epoch_images or len(train_samples)) // bs} steps/epoch, "
                    f"LR {schedule['lr']:.2g} -> {schedule['min_lr']:.2g}"
                ),
            )
        )
    rows += [
        (
            "optimizer",
            f"{args.optimizer} ({args.lr_schedule} schedule), weight decay {args.weight_decay:g}",
        ),
        (
            "augmentation",
            (
                f"mosaic {args.mosaic:g}, mixup {args.mixup:g}, off after "
                f"{args.aug_off_ratio:.0%} of the epochs" + _multi_scale_text(settings)
            ),
        ),
        (
            "loss",
            f"label smoothing {args.label_smoothing:g}"
            + (", focal objectness" if args.focal_loss else ""),
        ),
        (
            "evaluation",
            f"mAP@0.5 every {args.eval_period} epochs"
            if args.eval_period and val_samples
            else "off",
        ),
        (
            "weights average",
            "EMA over ~2 epochs (evaluated and saved)"
            if settings.ema
            else "off (--ema to average)",
        ),
    ]
    if distribution is not None:
        rows.append(
            (
                "devices",
                distribution.describe()
                + (
                    ", synchronised BatchNorm"
                    if settings.sync_bn and distribution.num_replicas > 1
                    else ""
                ),
            )
        )
    if args.mixed_precision:
        import keras

        rows.append(("precision", keras.mixed_precision.global_policy().name))
    rows.append(("save dir", args.save_dir))
    if resume_state is not None:
        rows.append(("resume", f"from epoch {resume_state[0]['epoch']}"))
    return rows
