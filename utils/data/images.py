"""Loading images robustly and resizing them to the network's input size.

``load_image`` turns whatever a user points at (JPEG with EXIF rotation, grayscale, RGBA, palette,
16-bit PNG, CMYK JPEG) into an RGB ``PIL.Image`` as it is displayed, or raises
:class:`ImageLoadError` with a one-line message naming the file. ``letterbox_image`` reproduces the
reference's preprocessing exactly (bicubic resize into a grey canvas).
"""

import io
import math
import os
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nets.errors import UserError
from utils.options import LETTERBOX_FILL, default

BICUBIC = Image.Resampling.BICUBIC
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".gif",
)
# Of those, what a dataset looks for beside an annotation's stem, in order of preference...
DATASET_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS[:4]
# ...and what drawn results are saved as (any other extension is saved as PNG).
SAVE_EXTENSIONS = IMAGE_EXTENSIONS[:7]
# Transparent pixels are shown on white, as image viewers do.
_ALPHA_BACKGROUND = (255, 255, 255)


class ImageLoadError(UserError, ValueError):
    """An image file is missing, unreadable, truncated or not an image."""


class PixelLimitError(ImageLoadError):
    """An image with more pixels than ``--max-pixels`` allows (refused before decoding)."""


_pixel_limit: dict[str, int | None] = {"max": None}


def set_max_pixels(limit):
    """Refuse images with more than ``limit`` pixels from now on (``--max-pixels``).

    Every image this project opens with PIL is checked right after its header is read, before
    any pixel is decoded; PIL's own guard is switched off so that it does not pre-empt this one
    with its fixed limit.
    """
    _pixel_limit["max"] = int(limit)
    Image.MAX_IMAGE_PIXELS = None


def pixel_limit_problem(width, height):
    """Why an image of this size is refused (a message without the file name), or None."""
    limit = _pixel_limit["max"]
    if limit is None or width * height <= limit:
        return None
    return (
        f"{width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of "
        f"{limit / 1e6:g} (a guard against decompression bombs; raise it with --max-pixels)"
    )


set_max_pixels(default("max_pixels"))


def is_image_file(path):
    """True when the file name has a known image extension (case-insensitive)."""
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


def _high_bit_depth_to_rgb(image):
    """16/32-bit integer and float grey images -> 8-bit RGB by scaling, not clipping."""
    array = np.asarray(image)
    if image.mode == "F":
        top = float(array.max()) if array.size else 1.0
        scale = 255.0 / top if top > 1.0 else 255.0
    else:
        # Mode "I" holds 16-bit PNGs too; anything above 255 means the data is wider than 8 bits.
        scale = 255.0 / 65535.0 if array.size and array.max() > 255 else 1.0
    array = np.clip(array.astype(np.float64) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(array, "L").convert("RGB")


def to_rgb(image):
    """Any PIL image mode -> RGB: alpha composited on white, high bit depths scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_bit_depth_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class ReducedImage:
    """A JPEG decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales while it decodes, at a
    fraction of a full decode's cost) for a network input smaller than the image.
    ``full_size``: the image's own (width, height) as displayed, which boxes refer to."""

    image: Image.Image
    full_size: tuple[int, int]


def load_image(path, apply_exif=True, reduce_for=None):
    """Read an image file as an RGB ``PIL.Image`` in its displayed orientation.

    With ``apply_exif=False`` the pixels stay as stored, which is how annotation tools, training
    and evaluation see them (VOC boxes refer to the stored pixels). ``reduce_for``: (input size
    (height, width), letterbox) of a detector that is all the pixels serve; a JPEG larger than
    it needs is then decoded at reduced scale, as a :class:`ReducedImage`.

    Raises:
        ImageLoadError: the file is missing, a directory, not an image, truncated or corrupt.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageLoadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageLoadError(f"{path}: is a folder, not an image file")
    return _decode(path, path, apply_exif, reduce_for)


def decode_image_bytes(data, name="upload", apply_exif=True, reduce_for=None):
    """An encoded image held in memory (an upload) as :func:`load_image` reads a file: the pixel
    limit checked from the header before any pixel is decoded, then RGB in displayed orientation.

    Raises:
        ImageLoadError: empty, not an image, truncated, corrupt or above the pixel limit (the
            message starts with ``name``).
    """
    if not data:
        raise ImageLoadError(f"{name}: empty (no bytes)")
    return _decode(io.BytesIO(data), name, apply_exif, reduce_for)


# EXIF orientations that turn the image a quarter: its displayed width is its stored height.
_QUARTER_TURNS = (5, 6, 7, 8)


def _draft_size(stored_size, reduce_for):
    """The smallest (width, height) a reduced decode must keep for the network to see as much
    detail as in the full image, in either orientation (EXIF may turn it)."""
    (h, w), letterbox = reduce_for
    iw, ih = stored_size
    if letterbox:
        scale = max(min(w / iw, h / ih), min(w / ih, h / iw))
        return math.ceil(iw * scale), math.ceil(ih * scale)
    side = max(h, w)
    return min(side, iw), min(side, ih)


def _decode(source, name, apply_exif, reduce_for=None):
    try:
        with Image.open(source) as image:
            problem = pixel_limit_problem(*image.size)
            if problem:
                raise PixelLimitError(f"{name}: {problem}")
            full_size = image.size
            if reduce_for is not None and image.format == "JPEG":
                image.draft(image.mode, _draft_size(full_size, reduce_for))
            reduced = image.size != full_size
            image.load()  # decode now, so truncated files fail here and not later
            if apply_exif:
                if reduced and image.getexif().get(0x0112) in _QUARTER_TURNS:
                    full_size = full_size[::-1]
                image = ImageOps.exif_transpose(image)
            image = to_rgb(image)
            return ReducedImage(image, full_size) if reduced else image
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in message.lower():
            message = f"truncated image file ({message})"
        raise ImageLoadError(f"{name}: cannot decode image: {message}") from None


def letterbox_geometry(image_size, input_size):
    """Where a letterboxed image lands in the canvas.

    Args:
        image_size: (width, height) of the original image.
        input_size: (height, width) of the network input.

    Returns:
        (new_width, new_height, left, top): the resized image's size and its offset in the canvas.
    """
    iw, ih = image_size
    h, w = input_size
    scale = min(w / iw, h / ih)
    nw, nh = max(int(iw * scale), 1), max(int(ih * scale), 1)
    return nw, nh, (w - nw) // 2, (h - nh) // 2


def letterbox_image(image, input_size, threads=1, full_size=None):
    """Resize keeping the aspect ratio (bicubic) and centre on a grey canvas of ``input_size``.

    Args:
        image: RGB ``PIL.Image``.
        input_size: (height, width).
        threads: resize large images on this many threads (same pixels; see ``resize_bicubic``).
        full_size: the (width, height) the geometry follows when ``image`` is a reduced decode.
    """
    h, w = input_size
    nw, nh, left, top = letterbox_geometry(full_size or image.size, input_size)
    resized = resize_bicubic(image, (nw, nh), threads)
    canvas = Image.new("RGB", (w, h), (LETTERBOX_FILL,) * 3)
    canvas.paste(resized, (left, top))
    return canvas


def resize_image(image, input_size, threads=1):
    """Plain bicubic resize to ``input_size`` (height, width), ignoring the aspect ratio."""
    h, w = input_size
    return resize_bicubic(image, (w, h), threads)


# Below this many source pixels a resize takes under ~2 ms: threads would cost more than they save.
PARALLEL_RESIZE_MIN_PIXELS = 500_000
_thread_pools: dict = {}
_thread_pools_lock = threading.Lock()


def thread_pool(purpose, threads):
    """The process's pool of ``threads`` threads for ``purpose`` (made on first use); one pool
    per purpose, so work on one pool never waits for a slot on the same pool."""
    key = (purpose, int(threads))
    with _thread_pools_lock:  # detectors may be called from several threads at once
        if key not in _thread_pools:
            from concurrent.futures import ThreadPoolExecutor

            _thread_pools[key] = ThreadPoolExecutor(int(threads), purpose)
        return _thread_pools[key]


def resize_bicubic(image, size, threads=1):
    """``image.resize(size, BICUBIC)``, pixel for pixel, on up to ``threads`` threads.

    Pillow resamples in two separable passes, widths first, then heights, from an 8-bit
    intermediate; each pass computes every row (first pass) or column (second pass) on its own.
    So the first pass can run on bands of rows and the second on bands of columns, in threads
    (Pillow releases the GIL while it resamples), and the bands join into the very same image.
    Used for single large images, where the resize is most of the preprocessing.
    """
    iw, ih = image.size
    threads = min(int(threads), 8)
    if threads >= 2:
        ensure_loaded(image)  # decoded in this thread, before the bands read it at once
    if threads < 2 or iw * ih < PARALLEL_RESIZE_MIN_PIXELS or image.mode not in ("RGB", "L"):
        return image.resize(size, BICUBIC)
    pool = thread_pool("resize", threads)
    width, height = size
    if width != iw:
        image = _resize_in_bands(pool, image, (width, ih), along_rows=True, parts=threads)
    if height != ih:
        image = _resize_in_bands(pool, image, (width, height), along_rows=False, parts=threads)
    return image


def _resize_in_bands(pool, image, size, along_rows, parts):
    """Resize one dimension only, ``parts`` bands at once: bands of rows when the width changes
    (``along_rows``), bands of columns when the height does."""
    iw, ih = image.size
    extent = ih if along_rows else iw
    cuts = [extent * k // parts for k in range(parts + 1)]

    def band(k):
        a, b = cuts[k], cuts[k + 1]
        if along_rows:
            return np.asarray(image.crop((0, a, iw, b)).resize((size[0], b - a), BICUBIC))
        return np.asarray(image.crop((a, 0, b, ih)).resize((b - a, size[1]), BICUBIC))

    return Image.fromarray(
        np.concatenate(list(pool.map(band, range(parts))), axis=0 if along_rows else 1)
    )


_load_locks_lock = threading.Lock()


def ensure_loaded(image):
    """Decode a lazily opened PIL image (``Image.open(path)``) now, once, so that several
    threads can then read it: Pillow decodes a file's pixels on first access, and two threads
    reading an undecoded image at once corrupt each other's decoding ("image file is
    truncated"). Safe to call from several threads on the same image; a loaded image costs
    nothing. Returns ``image``.

    Raises:
        ImageLoadError: the file behind the image is truncated or corrupt.
    """
    if not getattr(image, "tile", None):
        return image  # decoded already, or not read from a file
    with _load_locks_lock:
        lock = image.__dict__.setdefault("_yolo_lite_load_lock", threading.Lock())
    with lock:
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            name = getattr(image, "filename", "") or "image"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImageLoadError(f"{name}: cannot decode image: {message}") from None
    return image


def as_pil_rgb(image):
    """Accept a PIL image (any mode, decoded or lazily opened) or an HxWx3 uint8 RGB array;
    return an RGB PIL image whose pixels are decoded."""
    if isinstance(image, Image.Image):
        return to_rgb(ensure_loaded(image))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageLoadError(f"expected an HxWx3 RGB array, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ImageLoadError(f"expected a uint8 RGB array, got dtype {array.dtype}")
    return to_rgb(Image.fromarray(np.ascontiguousarray(array)))
