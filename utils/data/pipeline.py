"""tf.data input pipelines for training and validation.

    ds = build_train_dataset(samples, (416, 416), anchors, num_classes, batch_size=8,
                             epochs=30, aug_off_epoch=21)   # mosaic/mixup in epochs 0-20
    for images, (y_true_p5, y_true_p4, y_true_p3, gt_boxes) in ds: ...

The training dataset holds whole epochs (each drops its last partial batch, so it has
len(samples) // batch_size batches); validation holds one pass. Elements:
- images: float32 (B, H, W, 3) in [0, 1];
- y_true_pX: float32 (B, H/s, W/s, 3, 5 + C) for s = 32, 16, 8 (see utils.data.targets);
- gt_boxes: float32 (B, MAX_GT_BOXES, 4), every ground-truth box as normalised (cx, cy, w, h),
  zero-padded; the loss uses it for its ignore mask.

Design, measured on the 2-core machine (benchmarks/bench_pipeline.py):
- Each example is made by one tf.numpy_function running OpenCV/NumPy (utils.data.examples),
  mapped in parallel; OpenCV releases the GIL while it works. Each epoch's order, each
  example's random generator and whether mosaic/mixup are on are pure functions of (seed,
  epoch, position): a seeded pipeline makes the same examples however far it is prefetched,
  on every worker and after a resume.
- Decoded images are cached in memory (utils.data.image_store) as uint8 (long side capped at
  1.5x the input size) when the whole dataset fits `cache_mb`; decoding each JPEG every epoch
  was the original's bottleneck. Without the cache images are decoded on every use with OpenCV.
- A corrupt or truncated image is reported once on stderr ("skipping image ...") and never used:
  in training another image takes its place, so every epoch keeps its length; validation decodes
  every image once when it is built and leaves the unreadable ones out. Both datasets have a known
  length (Keras warns about running out of data otherwise).
- Mosaic and mixup stop at `aug_off_epoch` (the reference's switch-off). It is part of each
  example's description rather than a flag set between epochs, because the pipeline runs ahead
  of training: a flag set at an epoch's start would miss the examples already prefetched.
"""

import os

import numpy as np
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from utils.config import ConfigError
from utils.data.examples import TrainExampleMaker, ValExampleMaker
from utils.data.image_store import CACHE_SIDE_FACTOR, DEFAULT_CACHE_MB, ImageDecodeError, ImageStore
from utils.data.targets import MAX_GT_BOXES, target_shapes
from utils.options import default


def multi_scale_sizes(input_size, low=0.7, high=1.3):
    """The sizes a multi-scale run trains at: the heights that are multiples of 32 from ``low``
    to ``high`` times the input height, each with the width scaled alike to a multiple of 32
    (416x416: 320, 352, ..., 512 square)."""
    height, width = input_size
    first, last = int(np.ceil(low * height / 32)), int(np.floor(high * height / 32))
    sizes = []
    for side in range(max(first, 1), last + 1):
        size = (side * 32, max(1, int(round(width * side / height))) * 32)
        if size not in sizes:
            sizes.append(size)
    return sizes or [tuple(input_size)]


def _check_inputs(samples, input_size, anchors, num_classes, batch_size, anchors_mask):
    if len(input_size) != 2 or input_size[0] % 32 or input_size[1] % 32:
        raise ConfigError(f"input_size must be (height, width), multiples of 32; got {input_size}")
    if len(samples) < batch_size:
        raise ConfigError(
            f"the dataset has {len(samples)} images, fewer than one batch of {batch_size}"
        )
    if np.asarray(anchors).shape != (sum(len(m) for m in anchors_mask), 2):
        raise ConfigError(
            f"anchors must be ({sum(len(m) for m in anchors_mask)}, 2), got {np.shape(anchors)}"
        )
    for s in samples:
        ids = np.asarray(s.class_ids)
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ConfigError(
                f"{s.image_path}: class id {int(ids.max())} outside 0..{num_classes - 1}"
            )


def _output_signature(input_size, num_classes, anchors_mask, any_size=False):
    height, width = input_size
    shapes = (
        [(height, width, 3)]
        + target_shapes(input_size, num_classes, anchors_mask)
        + [(MAX_GT_BOXES, 4)]
    )
    if any_size:  # multi-scale: each batch has its own height and width
        shapes = [(None, None, *s[2:]) for s in shapes[:-1]] + [shapes[-1]]
    dtypes = [tf.uint8] + [tf.float32] * 4
    return shapes, dtypes


def take_share(ds, global_batch, shard):
    """The elements of ``ds`` that input pipeline ``shard[1]`` of ``shard[0]`` handles: its
    consecutive ``global_batch / shard[0]`` elements of every ``global_batch``."""
    count, index = int(shard[0]), int(shard[1])
    if count <= 1:
        return ds
    if global_batch % count:
        raise ConfigError(
            f"a step of {global_batch} images cannot be split over {count} input pipelines"
        )
    return ds.batch(global_batch // count, drop_remainder=True).shard(count, index).unbatch()


def _to_model_inputs(images, *targets):
    """uint8 batch -> float32 in [0, 1]; targets as one tuple (the loss's y_true)."""
    return tf.cast(images, tf.float32) / 255.0, tuple(targets)


def _numpy_example_fn(fn, inputs, shapes, dtypes):
    outputs = tf.numpy_function(fn, inputs, dtypes, stateful=True)
    return [tf.ensure_shape(t, s) for t, s in zip(outputs, shapes)]


def build_train_dataset(
    samples,
    input_size,
    anchors,
    num_classes,
    batch_size,
    *,
    anchors_mask=ANCHORS_MASK,
    mosaic=default("mosaic"),
    mixup=default("mixup"),
    jitter=0.3,
    hue=0.1,
    sat=0.7,
    val=0.4,
    flip=0.5,
    seed=None,
    workers=None,
    shuffle=True,
    aug_off_epoch=None,
    cache_mb=DEFAULT_CACHE_MB,
    global_batch=None,
    shard=(1, 0),
    epochs=1,
    first_epoch=0,
    sizes=None,
    epoch_size=None,
):
    """Augmented training batches (see the module docstring for the element layout).

    The dataset holds ``epochs`` epochs, numbered from ``first_epoch``, each reshuffled.

    samples: utils.data Samples; input_size: (height, width); anchors: (9, 2) in input pixels.
    mosaic: probability of a 4-image mosaic; mixup: probability of blending a mosaic with a
    normally augmented image (so mixup happens with probability mosaic * mixup, as the reference).
    jitter/hue/sat/val/flip: the reference's augmentation ranges. seed: makes the pipeline
    deterministic. workers: parallel examples (default: CPU count). aug_off_epoch: the first epoch
    without mosaic and mixup (None: on in every epoch). cache_mb: memory budget for keeping decoded
    images
    (0 disables the cache). The dataset also carries `image_store` (cache state, skipped images).

    Distributed training: `batch_size` is then one replica's batch, `global_batch` the images of
    one step over all replicas, and `shard` = (number of input pipelines, this one's index). Each
    epoch's shuffled order (the same on every worker, so pass a seed) is cut into steps of
    `global_batch` images, and each pipeline keeps its consecutive share of every step *before*
    any image is decoded or augmented. The examples of a step, and their random augmentation,
    are those a single process with `batch_size=global_batch` makes.

    `epoch_size`: images per epoch (default all), a fresh random draw of the samples each epoch
    (how training tiles join the images without making the epochs longer).

    Multi-scale training: `sizes` lists (height, width) sizes (:func:`multi_scale_sizes`); each
    step's images are made at one of them, drawn from (seed, epoch, step), so every replica's
    share of a step has the same size.
    """
    input_size = tuple(int(v) for v in input_size)
    global_batch = int(global_batch or batch_size)
    _check_inputs(samples, input_size, anchors, num_classes, global_batch, anchors_mask)
    workers = workers or os.cpu_count() or 1
    sizes = [tuple(int(v) for v in s) for s in sizes] if sizes else [input_size]
    largest = max(max(s) for s in sizes)
    store = ImageStore(samples, CACHE_SIDE_FACTOR * largest, cache_mb, workers)
    aug = dict(mosaic=mosaic, mixup=mixup, jitter=jitter, hue=hue, sat=sat, val=val, flip=flip)
    maker = TrainExampleMaker(
        samples, store, input_size, anchors, num_classes, anchors_mask, aug, sizes
    )
    shapes, dtypes = _output_signature(input_size, num_classes, anchors_mask, len(sizes) > 1)

    def make_example(index, element_seed, special_aug, size_index):
        inputs = [index, element_seed, special_aug, size_index]
        return _numpy_example_fn(maker, inputs, shapes, dtypes)

    # Each epoch's order and augmentation seeds are a pure function of (seed, epoch): a dataset
    # iterated again, on another worker or after --resume, makes the same examples.
    base_seed = (
        int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
    )
    epoch_images = len(samples) if epoch_size is None else min(int(epoch_size), len(samples))
    per_epoch = epoch_images // global_batch * global_batch  # whole steps only
    aug_off_epoch = np.iinfo(np.int64).max if aug_off_epoch is None else int(aug_off_epoch)

    def epoch_elements(epoch):
        key = tf.stack([tf.constant(base_seed, tf.int64), epoch])
        order = (
            tf.argsort(tf.random.stateless_uniform([len(samples)], seed=key))
            if shuffle
            else tf.range(len(samples))
        )
        seeds = tf.random.stateless_uniform(
            [len(samples)], seed=key + [0, 1 << 32], minval=None, maxval=None, dtype=tf.int64
        )
        special_aug = tf.fill([per_epoch], epoch < aug_off_epoch)
        steps = per_epoch // global_batch
        step_sizes = tf.random.stateless_uniform(
            [steps], seed=key + [0, 2 << 32], maxval=len(sizes), dtype=tf.int64
        )
        size_index = tf.repeat(step_sizes, global_batch)
        return tf.data.Dataset.from_tensor_slices(
            (tf.cast(order[:per_epoch], tf.int64), seeds[:per_epoch], special_aug, size_index)
        )

    epochs_ds = tf.data.Dataset.range(int(first_epoch), int(first_epoch) + int(epochs))
    ds = take_share(epochs_ds.flat_map(epoch_elements), global_batch, shard)
    ds = ds.apply(
        tf.data.experimental.assert_cardinality(int(epochs) * per_epoch // max(int(shard[0]), 1))
    )
    ds = ds.map(make_example, num_parallel_calls=workers, deterministic=seed is not None)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.image_store = store
    return ds


def build_val_dataset(
    samples,
    input_size,
    anchors,
    num_classes,
    batch_size,
    *,
    anchors_mask=ANCHORS_MASK,
    workers=None,
    cache_mb=DEFAULT_CACHE_MB,
    global_batch=None,
    shard=(1, 0),
):
    """Validation batches: plain letterbox (bicubic, grey 128, as the reference), same layout as
    training.

    The order follows `samples`; the last batch may be smaller. Every image is decoded once here:
    unreadable ones are skipped with a message, and the letterboxed images stay in memory when they
    fit `cache_mb` (otherwise each pass decodes them again). The dataset carries `image_store`.

    Distributed (`global_batch` given, `batch_size` per replica, `shard` as for training): every
    pipeline must run the same number of steps, so the images are cycled up to whole steps of
    `global_batch` (a few count twice in the validation loss) and split as in training; the
    dataset then carries `steps`, the number of steps of one pass.
    """
    input_size = tuple(int(v) for v in input_size)
    _check_inputs(samples, input_size, anchors, num_classes, 1, anchors_mask)
    workers = workers or os.cpu_count() or 1
    # Full-resolution decoding, so the letterbox equals the reference's pixel for pixel.
    store = ImageStore(samples, max_side=0, cache_mb=0)
    maker = ValExampleMaker(samples, store, input_size, anchors, num_classes, anchors_mask)
    keep = bool(cache_mb) and len(samples) * 3 * input_size[0] * input_size[1] <= cache_mb * 2**20
    readable = maker.prepare(workers, keep)
    if not readable:
        raise ImageDecodeError("none of the validation images could be read")
    shapes, dtypes = _output_signature(input_size, num_classes, anchors_mask)

    def make_example(index):
        return tuple(_numpy_example_fn(maker, [index], shapes, dtypes))

    steps = None
    if global_batch:
        steps = -(-len(readable) // int(global_batch))
        readable = np.resize(np.asarray(readable, np.int64), steps * int(global_batch))
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(readable, np.int64))
    if global_batch:
        ds = take_share(ds, int(global_batch), shard)
    ds = ds.map(make_example, num_parallel_calls=workers, deterministic=True)
    ds = ds.batch(batch_size)
    ds = ds.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.image_store = store
    ds.steps = steps
    return ds
