"""Train or fine-tune YOLOv4-lite on a VOC-format folder or a COCO instances file.

Examples:
    python train.py --backbone mobilenetv1 --alpha 0.25 --data VOCdevkit/VOC2007 \\
        --classes model_data/raccoon_classes.txt --save-dir logs/raccoon
    python train.py --save-dir logs/raccoon --resume          # continue an interrupted run
    python train.py --coco-json instances_train2017.json --coco-images train2017/ \\
        --val-coco-json instances_val2017.json --val-coco-images val2017/ --weights none

Outputs in --save-dir: last.h5 and best.h5 (load them with predict.py --weights), classes.txt,
history.csv (losses, learning rate, mAP per epoch), loss.png, map.png, tensorboard/, and the
resumable state train_state.json + train_state.npz.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULTS_NOTE = """\
Defaults are tuned to fine-tune fast from the VOC weights: Adam (decoupled weight decay 5e-4)
at LR 1e-3 (8e-3 per 64 images, scaled to the batch and clamped as the reference does),
cosine schedule with warm-up, a short frozen-backbone phase, mosaic/mixup at 0.5 switched off for
the last 30%% of the epochs. Objects marked difficult stay out of the training targets (as the
original does) and out of the mAP. Ctrl-C keeps last.h5 (last finished epoch) and writes
interrupted.h5; --resume continues from the last finished epoch."""


class UsageError(ValueError):
    """A flag value that cannot work; reported as one line."""


def build_parser():
    from utils.config import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_INPUT_SIZE
    parser = argparse.ArgumentParser(
        description="Train or fine-tune YOLOv4-lite on a VOC or COCO format dataset.",
        epilog=DEFAULTS_NOTE, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", default=DEFAULT_BACKBONE,
                       help="mobilenetv1, mobilenetv2, mobilenetv3, ghostnet or densenet121")
    model.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="width multiplier")
    model.add_argument("--weights", default=None,
                       help="initial weights: a .h5 file (a detector checkpoint or an ImageNet "
                            "backbone file), 'none' for random initialisation; default: the "
                            "published VOC weights of the backbone (downloaded once)")
    model.add_argument("--input-size", default=str(DEFAULT_INPUT_SIZE),
                       help="training input size N or HxW, multiples of 32")
    model.add_argument("--anchors", default=None, help="anchors file (default model_data)")
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=None,
                      help="VOC folder holding Annotations/, JPEGImages/, ImageSets/Main/")
    data.add_argument("--classes", default=None,
                      help="class list, one name per line (default: the VOC data's class "
                           "names, sorted; the COCO file's categories)")
    data.add_argument("--train-split", default="train", help="ImageSets/Main split to train on")
    data.add_argument("--val-split", default=None,
                      help="split for validation loss and mAP (default: val, else test, when "
                           "present); 'none' to skip validation")
    data.add_argument("--coco-json", default=None, help="COCO instances json to train on")
    data.add_argument("--coco-images", default=None, help="image folder of --coco-json")
    data.add_argument("--val-coco-json", default=None, help="COCO instances json to validate on")
    data.add_argument("--val-coco-images", default=None, help="image folder of --val-coco-json")
    sched = parser.add_argument_group("schedule")
    sched.add_argument("--epochs", type=int, default=60, help="total epochs, frozen ones included")
    sched.add_argument("--freeze-epochs", type=int, default=5,
                       help="first epochs with the backbone frozen (0: never)")
    sched.add_argument("--batch-size", type=int, default=8, help="batch size after unfreezing")
    sched.add_argument("--freeze-batch-size", type=int, default=16,
                       help="batch size while the backbone is frozen")
    sched.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    sched.add_argument("--lr", type=float, default=None,
                       help="initial LR for a batch of 64, scaled linearly to the batch size and "
                            "clamped as the reference does (adam [3e-4, 1e-3], sgd [5e-4, 5e-2]); "
                            "default: adam 8e-3 (= 1e-3 at batch 8 and 16), sgd 1e-2; the final "
                            "LR is 1%% of it")
    sched.add_argument("--lr-schedule", choices=("cos", "step"), default="cos")
    sched.add_argument("--warmup-epochs", type=float, default=None,
                       help="warm-up length (default: 5%% of the epochs, between 1 and 3)")
    sched.add_argument("--momentum", type=float, default=0.937,
                       help="SGD momentum / Adam beta_1")
    sched.add_argument("--weight-decay", type=float, default=5e-4,
                       help="decoupled weight decay (not on BatchNorm or biases)")
    aug = parser.add_argument_group("augmentation and loss")
    aug.add_argument("--mosaic", type=float, default=0.5, help="mosaic probability")
    aug.add_argument("--mixup", type=float, default=0.5,
                     help="probability of mixing a mosaic with another image")
    aug.add_argument("--aug-off-ratio", type=float, default=0.7,
                     help="mosaic and mixup stop after this fraction of the epochs")
    aug.add_argument("--label-smoothing", type=float, default=0.0)
    aug.add_argument("--focal-loss", action="store_true", help="focal objectness loss")
    out = parser.add_argument_group("output and run")
    out.add_argument("--save-dir", default="logs", help="where checkpoints and logs go")
    out.add_argument("--save-period", type=int, default=0,
                     help="also keep epNNN.h5 every N epochs (0: only last.h5 and best.h5)")
    out.add_argument("--eval-period", type=int, default=10,
                     help="mAP@0.5 on the validation split every N epochs and at the end (0: off)")
    out.add_argument("--resume", action="store_true",
                     help="continue the run saved in --save-dir (its settings are reused; "
                          "flags given now override them)")
    out.add_argument("--seed", type=int, default=None, help="random seed (reproducible runs)")
    out.add_argument("--workers", type=int, default=None,
                     help="parallel data-loading workers (default: CPU count)")
    out.add_argument("--mixed-precision", action="store_true",
                     help="float16 (GPU) or bfloat16 (CPU) compute")
    out.add_argument("--jit-compile", action="store_true",
                     help="compile the train step with XLA (slower on CPU, try on GPU)")
    out.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bar")
    return parser


def check_args(args):
    """Raise UsageError for flag values that cannot work."""
    if args.data is None and args.coco_json is None:
        raise UsageError("give a dataset: --data VOC_FOLDER or --coco-json FILE --coco-images DIR")
    if args.data is not None and args.coco_json is not None:
        raise UsageError("give either --data or --coco-json, not both")
    if args.coco_json and not args.coco_images:
        raise UsageError("--coco-json needs --coco-images (the folder of its images)")
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.freeze_epochs < 0:
        raise UsageError(f"--freeze-epochs must be 0 or more, got {args.freeze_epochs}")
    for flag in ("batch_size", "freeze_batch_size"):
        if getattr(args, flag) < 2:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 2 (BatchNorm needs "
                             f"2 images per batch), got {getattr(args, flag)}")
    for flag in ("mosaic", "mixup", "aug_off_ratio"):
        if not 0.0 <= getattr(args, flag) <= 1.0:
            raise UsageError(f"--{flag.replace('_', '-')} must be between 0 and 1, "
                             f"got {getattr(args, flag)}")
    if not 0.0 <= args.label_smoothing < 1.0:
        raise UsageError(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if args.lr is not None and args.lr <= 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.weight_decay < 0:
        raise UsageError(f"--weight-decay must be 0 or more, got {args.weight_decay}")
    if args.warmup_epochs is not None and args.warmup_epochs < 0:
        raise UsageError(f"--warmup-epochs must be 0 or more, got {args.warmup_epochs}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")


def parse_args(argv=None):
    """Flags, with a resumed run's saved flags as defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume:
        from utils.training.callbacks import STATE_JSON
        import json
        path = os.path.join(args.save_dir, STATE_JSON)
        if not os.path.isfile(path):
            parser.error(f"--resume: no training state in {args.save_dir} ({STATE_JSON} missing)")
        try:
            with open(path, encoding="utf8") as f:
                saved = json.load(f)["settings"]["args"]
        except (OSError, ValueError, KeyError, TypeError):
            parser.error(f"--resume: {path} is not a training state written by train.py")
        saved = {k: v for k, v in saved.items() if k not in ("resume", "save_dir")}
        parser.set_defaults(**saved)
        args = parser.parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    return args


def load_data(args, class_names):
    """(train_samples, val_samples, class_names) from the VOC folder or COCO files; prints the
    dataset reports."""
    from utils.data import datasets
    if args.coco_json:
        train, report, class_names = datasets.load_coco_json(args.coco_json, args.coco_images,
                                                             class_names)
        print(f"training data ({args.coco_json}):\n{report.format()}")
        val = []
        if args.val_coco_json:
            val, report, _ = datasets.load_coco_json(args.val_coco_json,
                                                     args.val_coco_images or args.coco_images,
                                                     class_names)
            print(f"validation data ({args.val_coco_json}):\n{report.format()}")
        return train, val, class_names
    root = datasets.resolve_voc_root(args.data)
    if class_names is None:
        ids = datasets.read_split_ids(root, args.train_split)
        class_names = datasets.list_voc_class_names(root, ids)
        print(f"classes (from the annotations, no --classes given): {', '.join(class_names)}")
    train, report = datasets.load_voc_split(root, args.train_split, class_names)
    print(f"training split '{args.train_split}' of {root}:\n{report.format()}")
    val_split = args.val_split
    if val_split is None:
        present = datasets.existing_splits(root)
        val_split = next((s for s in ("val", "test") if s in present and s != args.train_split),
                         "none")
    val = []
    if val_split.lower() != "none":
        val, report = datasets.load_voc_split(root, val_split, class_names)
        print(f"validation split '{val_split}':\n{report.format()}")
    else:
        print("no validation split: best.h5 follows the training loss")
    return train, val, class_names


def print_settings(rows):
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 40)
    print(line)
    for key, value in rows:
        print(f"| {key:<{width}} | {value}")
    print(line)


def main(argv=None):
    args = parse_args(argv)
    import keras

    from nets import WeightsMismatchError, yolo_body
    from utils.training import callbacks as cb
    from utils.config import ConfigError, load_anchors, load_class_names, parse_input_size
    from utils.data.datasets import DatasetError
    from utils.training.trainer import TrainSettings, initialise_weights, train_detector
    from utils.config import DEFAULT_ANCHORS_PATH

    try:
        input_size = parse_input_size(args.input_size)
        anchors = load_anchors(args.anchors or DEFAULT_ANCHORS_PATH)
        class_names = load_class_names(args.classes) if args.classes else None
        train_samples, val_samples, class_names = load_data(args, class_names)
        if not train_samples:
            raise UsageError("the training split has no usable images")
        resume_state = cb.load_training_state(args.save_dir) if args.resume else None
        if args.mixed_precision:
            import tensorflow as tf
            policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
            keras.mixed_precision.set_global_policy(policy)
        body = yolo_body(input_size, num_classes=len(class_names), backbone=args.backbone,
                         alpha=args.alpha)
        if resume_state is None:
            print(initialise_weights(body, args.weights, args.backbone, args.alpha))
    except (UsageError, ConfigError, DatasetError, WeightsMismatchError, FileNotFoundError,
            ValueError, OSError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2

    settings = TrainSettings(
        backbone=args.backbone, alpha=args.alpha, input_size=input_size,
        freeze_epochs=args.freeze_epochs, epochs=args.epochs, batch_size=args.batch_size,
        freeze_batch_size=args.freeze_batch_size, optimizer=args.optimizer,
        lr=args.lr if args.lr is not None else (8e-3 if args.optimizer == "adam" else 1e-2),
        lr_schedule=args.lr_schedule, warmup_epochs=args.warmup_epochs, momentum=args.momentum,
        weight_decay=args.weight_decay, mosaic=args.mosaic, mixup=args.mixup,
        aug_off_ratio=args.aug_off_ratio, label_smoothing=args.label_smoothing,
        focal_loss=args.focal_loss, save_dir=args.save_dir, save_period=args.save_period,
        eval_period=args.eval_period, seed=args.seed, workers=args.workers,
        mixed_precision=args.mixed_precision and keras.mixed_precision.global_policy().name
        == "mixed_float16", jit_compile=args.jit_compile,
        verbose=2 if args.quiet or not sys.stdout.isatty() else 1)
    os.makedirs(args.save_dir, exist_ok=True)
    with open(os.path.join(args.save_dir, "classes.txt"), "w", encoding="utf8") as f:
        f.write("\n".join(class_names) + "\n")
    rows = [("backbone", f"{args.backbone} alpha {args.alpha:g}"),
            ("classes", f"{len(class_names)}: {', '.join(class_names[:10])}"
                        + (" ..." if len(class_names) > 10 else "")),
            ("images", f"{len(train_samples)} train, {len(val_samples)} validation"),
            ("input size", f"{input_size[0]}x{input_size[1]}")]
    for name, first, end, bs in settings.phases():
        init, minimum = settings.lr_function(bs).keywords["lr"], \
            settings.lr_function(bs).keywords["min_lr"]
        rows.append((f"{name} phase", f"epochs {first + 1}-{end}, batch {bs}, "
                                      f"{len(train_samples) // bs} steps/epoch, "
                                      f"LR {init:.2g} -> {minimum:.2g}"))
    rows += [("optimizer", f"{args.optimizer} ({args.lr_schedule} schedule), weight decay "
                           f"{args.weight_decay:g}"),
             ("augmentation", f"mosaic {args.mosaic:g}, mixup {args.mixup:g}, off after "
                              f"{args.aug_off_ratio:.0%} of the epochs"),
             ("loss", f"label smoothing {args.label_smoothing:g}"
                      + (", focal objectness" if args.focal_loss else "")),
             ("evaluation", f"mAP@0.5 every {args.eval_period} epochs" if args.eval_period
              and val_samples else "off"),
             ("save dir", args.save_dir)]
    if resume_state is not None:
        rows.append(("resume", f"from epoch {resume_state[0]['epoch']}"))
    print_settings(rows)

    start = time.perf_counter()
    try:
        result = train_detector(settings, body, train_samples, val_samples, class_names, anchors,
                                resume_state=resume_state, record={"args": vars(args)})
    except KeyboardInterrupt:
        from nets import save_weights
        path = os.path.join(args.save_dir, "interrupted.h5")
        save_weights(body, path)
        print(f"\ninterrupted: {path} holds the current weights; last.h5 the last finished "
              f"epoch. Continue with: python train.py --save-dir {args.save_dir} --resume",
              file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    minutes = (time.perf_counter() - start) / 60
    if result.stopped_by_nan:
        print(f"train.py: stopped: the loss became NaN/inf in epoch {result.epochs_done + 1}. "
              f"{os.path.join(args.save_dir, 'last.h5')} keeps the last good epoch "
              f"({result.epochs_done}). Try a lower --lr, a longer --warmup-epochs or "
              f"--optimizer adam.", file=sys.stderr)
        return 1
    best = ""
    if result.best_metric is not None:
        best = (f"; best mAP@0.5 {result.best_metric:.1%}" if result.best_mode == "map50"
                else f"; best val loss {result.best_metric:.4f}")
    print(f"done: {result.epochs_done} epochs in {minutes:.1f} min{best}; checkpoints in "
          f"{args.save_dir} (last.h5, best.h5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
