"""One training or validation example as NumPy arrays: the augmented (or letterboxed) image, its
target grids and its ground-truth boxes. These are the bodies of the tf.data pipelines'
numpy_functions (utils.data.pipeline); they use OpenCV and NumPy, not TensorFlow."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from utils.data import augment, training_boxes
from utils.data.image_store import ImageDecodeError
from utils.data.targets import assign_targets, padded_gt_boxes
from utils.options import LETTERBOX_FILL

# How many other images to try when an image turns out to be unreadable.
MAX_SUBSTITUTES = 32


class _MakerBase:
    """What both example makers hold: the image store, training labels and target geometry."""

    def __init__(self, samples, store, input_size, anchors, num_classes, anchors_mask):
        self.store = store
        self.labels = [training_boxes(s) for s in samples]
        self.input_size = tuple(input_size)
        self.anchors = np.asarray(anchors, np.float32)
        self.num_classes = num_classes
        self.anchors_mask = anchors_mask


class TrainExampleMaker(_MakerBase):
    """Builds one augmented training example (the body of the pipeline's numpy_function)."""

    def __init__(
        self, samples, store, input_size, anchors, num_classes, anchors_mask, aug, sizes=None
    ):
        super().__init__(samples, store, input_size, anchors, num_classes, anchors_mask)
        self.aug = aug
        # The jitter, flip and colour settings that single images and mosaics share.
        self.placement = {key: aug[key] for key in ("jitter", "flip", "hue", "sat", "val")}
        self.sizes = tuple(sizes) if sizes else (self.input_size,)  # by size index

    def _load(self, index, rng):
        """Image and its boxes in image pixels; an unreadable image is replaced by a random
        other."""
        for _ in range(MAX_SUBSTITUTES):
            got = self.store.get(index)
            if got is not None:
                image, sx, sy = got
                boxes, ids = self.labels[index]
                return (
                    image,
                    augment.transform_boxes(boxes, sx, sy, 0, 0),
                    np.asarray(ids, np.int32),
                )
            index = int(rng.integers(len(self.labels)))
        raise ImageDecodeError(
            f"no readable image found after {MAX_SUBSTITUTES} tries; "
            f"is the dataset readable? (e.g. {self.store.paths[index]})"
        )

    def _single(self, index, rng, size):
        image, boxes, ids = self._load(index, rng)
        return augment.random_resize_place(image, boxes, ids, size, rng, **self.placement)

    def augmented(self, index, rng, special_aug, size=None):
        """(image, boxes, class_ids) at ``size`` (default the input size) after the reference's
        augmentation choices."""
        a = self.aug
        size = self.input_size if size is None else size
        if special_aug and rng.random() < a["mosaic"]:
            n = len(self.labels)
            picks = [index] + [int(i) for i in rng.integers(n, size=3)]
            rng.shuffle(picks)
            parts = [self._load(i, rng) for i in picks]
            image, boxes, ids = augment.mosaic(
                [p[0] for p in parts],
                [p[1] for p in parts],
                [p[2] for p in parts],
                size,
                rng,
                **self.placement,
            )
            if rng.random() < a["mixup"]:
                other = self._single(int(rng.integers(n)), rng, size)
                image, boxes, ids = augment.mixup(image, boxes, ids, *other)
            return image, boxes, ids
        return self._single(index, rng, size)

    def __call__(self, index, seed, special_aug, size_index=0):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int(index)])
        size = self.sizes[int(size_index)]
        image, boxes, ids = self.augmented(int(index), rng, bool(special_aug), size)
        return example_arrays(image, boxes, ids, self, size)


def example_arrays(image, boxes, ids, spec, size=None):
    """The pipeline's element for one image: the image, its three target grids and its padded
    ground-truth boxes, at ``size`` (default ``spec``'s input size)."""
    size = spec.input_size if size is None else size
    y_true = assign_targets(boxes, ids, size, spec.anchors, spec.num_classes, spec.anchors_mask)
    return (image, *y_true, padded_gt_boxes(boxes, size))


class ValExampleMaker(_MakerBase):
    """Letterboxed image and targets of one validation sample.

    A first pass (`prepare`) decodes every image once: unreadable ones are reported and left out
    (so the dataset's length is known up front), and the letterboxed images are kept when they fit
    the memory budget, so later passes decode nothing.
    """

    def __init__(self, samples, store, input_size, anchors, num_classes, anchors_mask):
        super().__init__(samples, store, input_size, anchors, num_classes, anchors_mask)
        self.kept = {}

    def letterboxed(self, index):
        """(letterboxed image, boxes, class_ids) or None when the image is unreadable."""
        got = self.store.get(index)
        if got is None:
            return None
        image, sx, sy = got
        boxes, ids = self.labels[index]
        image, boxes = augment.letterbox(
            image, self.input_size, augment.transform_boxes(boxes, sx, sy, 0, 0)
        )
        boxes, ids = augment.clip_boxes(
            boxes, np.asarray(ids, np.int32), (0, 0, self.input_size[1], self.input_size[0])
        )
        return image, boxes, ids

    def prepare(self, workers, keep):
        """Indices of the readable images; keeps their letterboxed examples when `keep`."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(self.letterboxed, range(len(self.labels))))
        if keep:
            self.kept = {i: r for i, r in enumerate(results) if r is not None}
        return [i for i, r in enumerate(results) if r is not None]

    def __call__(self, index):
        index = int(index)
        example = self.kept.get(index) or self.letterboxed(index)
        if example is None:  # readable in the first pass, not any more: keep the batch shape
            height, width = self.input_size
            example = (
                np.full((height, width, 3), LETTERBOX_FILL, np.uint8),
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.int32),
            )
        image, boxes, ids = example
        return example_arrays(image, boxes, ids, self)
