"""Decoded training images by index: decoding with OpenCV and an in-memory cache of them.

Images are cached as uint8 with their long side capped, when the whole dataset fits a memory
budget; otherwise they are decoded on every use. Unreadable images are reported once on stderr
and remembered, so the pipeline can substitute another image.
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from nets.errors import UserError
from utils.data import augment

# Cached images keep at most this multiple of the input's long side (scale r(0.25, 2) rarely
# needs more detail than this, and it bounds memory).
CACHE_SIDE_FACTOR = 1.5
# Default memory budget for the decoded-image cache.
DEFAULT_CACHE_MB = 2048


class ImageDecodeError(UserError, ValueError):
    """An image file could not be read or decoded."""


def decode_image_file(path):
    """Decode an image file into uint8 RGB (H, W, 3) with OpenCV; raises ImageDecodeError.

    EXIF orientation is ignored, as the reference (PIL without exif_transpose) and the VOC
    annotations' pixel coordinates assume.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read: {exc.strerror or exc}") from None
    image = cv2.imdecode(
        np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    )
    if image is None or image.size == 0:
        raise ImageDecodeError("cannot decode (corrupt, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _report(message):
    print(message, file=sys.stderr, flush=True)


class ImageStore:
    """Decoded images by index: cached in memory when they fit the budget, else read on demand.

    Images come back with boxes scaled into their pixel frame (the cache shrinks large images).
    Unreadable images are reported once and remembered; `get` returns None for them.
    """

    def __init__(self, samples, max_side, cache_mb=DEFAULT_CACHE_MB, workers=None, report=_report):
        self.paths = [s.image_path for s in samples]
        self.sizes = [(float(s.width), float(s.height)) for s in samples]  # for the memory estimate
        self.max_side = int(max_side)
        self.report = report
        self.bad = set()
        self._lock = threading.Lock()
        self._cache = None
        self.cache_bytes = 0
        self.cache_seconds = 0.0
        if cache_mb and self.estimated_bytes() <= cache_mb * 2**20:
            self._fill_cache(workers or os.cpu_count() or 1)

    @property
    def cached(self):
        return self._cache is not None

    def _cached_shape(self, width, height):
        scale = min(1.0, self.max_side / max(width, height, 1))
        return max(int(round(width * scale)), 1), max(int(round(height * scale)), 1)

    def estimated_bytes(self):
        """Memory the cache would take, from the samples' declared sizes."""
        return sum(3 * np.prod(self._cached_shape(w, h)) for w, h in self.sizes)

    def _decode_for_cache(self, index):
        """(shrunk image, x scale, y scale) or None; the scales map original pixels onto it."""
        image = self._decode(index)
        if image is None:
            return None
        w, h = self._cached_shape(image.shape[1], image.shape[0])
        return augment.resize(image, w, h), w / image.shape[1], h / image.shape[0]

    def _fill_cache(self, workers):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            self._cache = list(pool.map(self._decode_for_cache, range(len(self.paths))))
        self.cache_bytes = sum(entry[0].nbytes for entry in self._cache if entry is not None)
        self.cache_seconds = time.perf_counter() - start

    def _decode(self, index):
        if index in self.bad:
            return None
        try:
            return decode_image_file(self.paths[index])
        except ImageDecodeError as exc:
            with self._lock:
                first = index not in self.bad
                self.bad.add(index)
            if first:
                self.report(f"skipping image {self.paths[index]}: {exc}")
            return None

    def get(self, index):
        """(image uint8 RGB, sx, sy), sx and sy mapping the annotation's pixels onto the image;
        None if unreadable."""
        if self._cache is not None:
            return self._cache[index]
        image = self._decode(index)
        return None if image is None else (image, 1.0, 1.0)
