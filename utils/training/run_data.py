"""What a train.py run trains on, from its flags: the training and validation samples of
``--data`` (any format), the tiles of ``--train-slice`` and the anchors of ``--anchors``."""

import os

from utils.cli import UsageError


def load_data(args, class_names):
    """(train_samples, val_samples, class_names) of --data, whatever its format; prints the
    dataset reports."""
    from utils.data.datasets import dataset_for_args, default_val_split

    dataset = dataset_for_args(args)
    if not dataset.has_split(args.train_split):
        raise dataset.missing_split(args.train_split)
    if class_names is None:
        class_names = dataset.class_names(args.train_split)
        print(f"classes (from the dataset, no --classes given): {', '.join(class_names)}")
    train = dataset.load(args.train_split, class_names)
    print(f"training data, {train.where}:\n{train.report.format()}")
    val_split = args.val_split
    if val_split is None:
        val_split = default_val_split(dataset, args.train_split)
    if val_split is None or val_split.lower() == "none":
        print("no validation split: best.h5 follows the training loss")
        return train.samples, [], class_names
    val = _validation_data(args, dataset, val_split, class_names)
    print(f"validation data, {val.where}:\n{val.report.format()}")
    return train.samples, val.samples, class_names


def _validation_data(args, dataset, val_split, class_names):
    """A split of --data, or (a path) the whole of another dataset."""
    from utils.data.datasets import detect_format, open_dataset

    if dataset.has_split(val_split) and not dataset.one_piece:
        return dataset.load(val_split, class_names)
    if not os.path.exists(val_split):
        if dataset.one_piece:
            raise UsageError(
                f"--val-split {val_split}: {dataset.root} is a single split; name another "
                "dataset (a path) or 'none'"
            )
        raise dataset.missing_split(val_split)
    images = args.val_coco_images or args.coco_images
    data_format = detect_format(val_split)
    other = open_dataset(
        val_split, data_format, coco_images=images if data_format == "coco" else None
    )
    return other.load(None, class_names)


def add_training_tiles(args, samples):
    """--train-slice: the samples and the tiles of the larger ones (utils.data.tiles)."""
    from utils.data.tiles import tile_samples

    tiles = tile_samples(samples, args.train_slice, os.path.join(args.save_dir, "train_tiles"))
    height, width = args.train_slice
    print(
        f"--train-slice {height}x{width}: {len(tiles)} tiles with boxes added to the "
        f"{len(samples)} training images; each epoch draws {len(samples)} of them afresh"
    )
    return list(samples) + tiles


def training_anchors(args, input_size, train_samples):
    """--anchors: a file; 'auto', fitted to the training boxes by k-means (a resumed run keeps
    the ones it saved); or model_data/yolo_anchors.txt. Whole pixels, as anchors.txt holds
    them, so the tools that read the file use the anchors the model was trained with."""
    import numpy as np

    from utils.config import ANCHORS_FILE, load_anchors
    from utils.data.anchors import fit_anchors, format_anchors
    from utils.options import DEFAULT_ANCHORS_PATH

    if args.anchors != "auto":
        return load_anchors(args.anchors or DEFAULT_ANCHORS_PATH)
    saved = os.path.join(args.save_dir, ANCHORS_FILE)
    if args.resume and os.path.isfile(saved):
        return load_anchors(saved)
    anchors, fit = fit_anchors(train_samples, input_size)
    anchors = np.round(anchors).astype(np.float32)
    boxes = sum(len(s.boxes) for s in train_samples)
    print(
        f"anchors fitted to the {boxes} training boxes at {input_size[0]}x{input_size[1]}: "
        f"{format_anchors(anchors)} (mean IoU of a box with its best anchor {fit:.3f})"
    )
    return anchors
