"""Training augmentations and the validation letterbox, on NumPy images.

Images are uint8 RGB arrays (H, W, 3); boxes are float32 (N, 4) [x1, y1, x2, y2] in pixels of the
image they belong to, with an int32 (N,) array of class ids alongside. Every random draw comes from
the `numpy.random.Generator` passed in, so a seeded pipeline is reproducible.

The geometry and colour ranges follow the reference implementation: scale
r(0.25, 2) of the input size on the long side with aspect jitter, a random offset on a grey canvas,
horizontal flip, HSV gains through lookup tables, mosaic around a cut point r(0.3, 0.7) and a
0.5/0.5 mixup. OpenCV does the pixel work: it is fast and releases the GIL, so the pipeline's
parallel examples really run in parallel.
"""

import cv2
import numpy as np
from PIL import Image

from utils.data.images import letterbox_geometry, letterbox_image
from utils.options import LETTERBOX_FILL

# Boxes whose width or height is at most this many pixels after augmentation are dropped.
MIN_BOX_SIZE = 1.0


def uniform(rng, low, high):
    """One float drawn uniformly from [low, high) (also fine when high < low)."""
    return low + (high - low) * rng.random()


def letterbox(image, size, boxes=None):
    """Resize keeping the aspect ratio and pad with grey, centred: the reference's preprocessing.

    image: uint8 (H, W, 3); size: (height, width). Uses utils.data.images's letterbox (PIL
    bicubic), the
    one predict and evaluation use, so validation sees exactly what inference sees. Returns the
    letterboxed image, and the boxes moved into it when `boxes` is given.
    """
    ih, iw = image.shape[:2]
    canvas = np.asarray(letterbox_image(Image.fromarray(image), size))
    if boxes is None:
        return canvas
    nw, nh, dx, dy = letterbox_geometry((iw, ih), size)
    return canvas, transform_boxes(boxes, nw / iw, nh / ih, dx, dy)


def resize(image, width, height):
    """Resize to (width, height), bilinear; strong shrinks first halve with pyrDown (no aliasing).

    pyrDown + bilinear costs about a sixth of OpenCV's INTER_AREA at non-integer factors.
    """
    while width * 2 <= image.shape[1] and height * 2 <= image.shape[0]:
        image = cv2.pyrDown(image)
    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def paste(canvas, image, dx, dy, region=None):
    """Copy `image` onto `canvas` with its top-left corner at (dx, dy), cropped to `region`.

    region: (x0, y0, x1, y1) of the canvas that may be written (default: all of it).
    """
    ch, cw = canvas.shape[:2]
    x0, y0, x1, y1 = region if region is not None else (0, 0, cw, ch)
    ih, iw = image.shape[:2]
    left, top = max(x0, dx), max(y0, dy)
    right, bottom = min(x1, dx + iw), min(y1, dy + ih)
    if right > left and bottom > top:
        canvas[top:bottom, left:right] = image[top - dy : bottom - dy, left - dx : right - dx]
    return canvas


def transform_boxes(boxes, sx, sy, dx, dy):
    """Scale boxes by (sx, sy), then shift them by (dx, dy)."""
    out = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    out[:, [0, 2]] = out[:, [0, 2]] * sx + dx
    out[:, [1, 3]] = out[:, [1, 3]] * sy + dy
    return out


def flip_boxes(boxes, width):
    """Mirror boxes left-right inside an image `width` pixels wide."""
    out = boxes.copy()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def clip_boxes(boxes, class_ids, region):
    """Clip boxes to region (x0, y0, x1, y1); drop those left with width or height <= 1 px."""
    x0, y0, x1, y1 = region
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], x0, x1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], y0, y1)
    keep = ((out[:, 2] - out[:, 0]) > MIN_BOX_SIZE) & ((out[:, 3] - out[:, 1]) > MIN_BOX_SIZE)
    return out[keep], class_ids[keep]


def hsv_jitter(image, rng, hue=0.1, sat=0.7, val=0.4):
    """Multiply hue, saturation and value by random gains 1 + U(-1, 1) * (hue, sat, val).

    Done with one 3-channel lookup table in OpenCV's 8-bit HSV (hue wraps at 180, the others
    saturate at 255), which is how the reference does it.
    """
    if hue == 0 and sat == 0 and val == 0:
        return image
    gains = rng.uniform(-1.0, 1.0, 3) * np.array([hue, sat, val]) + 1.0
    x = np.arange(256, dtype=np.float64)
    table = np.stack(
        [(x * gains[0]) % 180, np.clip(x * gains[1], 0, 255), np.clip(x * gains[2], 0, 255)],
        axis=-1,
    ).astype(np.uint8)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv = cv2.LUT(hsv, table.reshape(256, 1, 3))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _jittered_size(iw, ih, out_w, out_h, rng, jitter, scale):
    """Reference sizing: aspect iw/ih * r(1-j, 1+j) / r(1-j, 1+j), `scale` of the input on the long
    side."""
    aspect = iw / ih * uniform(rng, 1 - jitter, 1 + jitter) / uniform(rng, 1 - jitter, 1 + jitter)
    if aspect < 1:
        nh = max(int(scale * out_h), 1)
        nw = max(int(nh * aspect), 1)
    else:
        nw = max(int(scale * out_w), 1)
        nh = max(int(nw / aspect), 1)
    return nw, nh


def random_resize_place(
    image,
    boxes,
    class_ids,
    size,
    rng,
    *,
    jitter=0.3,
    scale_range=(0.25, 2.0),
    flip=0.5,
    hue=0.1,
    sat=0.7,
    val=0.4,
):
    """The reference's single-image augmentation: random scale and aspect, placement, flip, HSV.

    size: (height, width) of the output. Returns (image uint8 (h, w, 3), boxes, class_ids) with the
    boxes clipped to the image and tiny ones dropped.
    """
    out_h, out_w = size
    ih, iw = image.shape[:2]
    nw, nh = _jittered_size(iw, ih, out_w, out_h, rng, jitter, uniform(rng, *scale_range))
    dx = int(uniform(rng, 0, out_w - nw))
    dy = int(uniform(rng, 0, out_h - nh))
    canvas = np.full((out_h, out_w, 3), LETTERBOX_FILL, np.uint8)
    paste(canvas, resize(image, nw, nh), dx, dy)
    boxes = transform_boxes(boxes, nw / iw, nh / ih, dx, dy)
    if rng.random() < flip:
        canvas = cv2.flip(canvas, 1)
        boxes = flip_boxes(boxes, out_w)
    boxes, class_ids = clip_boxes(boxes, class_ids, (0, 0, out_w, out_h))
    return hsv_jitter(canvas, rng, hue, sat, val), boxes, class_ids


def mosaic(
    images,
    boxes_list,
    ids_list,
    size,
    rng,
    *,
    jitter=0.3,
    scale_range=(0.4, 1.0),
    flip=0.5,
    hue=0.1,
    sat=0.7,
    val=0.4,
):
    """Four images around a random cut point (reference's mosaic), then HSV jitter on the result.

    Each image is flipped with probability `flip`, resized with aspect jitter at scale r(0.4, 1) and
    placed against the cut point in its quadrant (top-left, bottom-left, bottom-right, top-right),
    cropped to that quadrant; its boxes are clipped to the quadrant and tiny ones dropped.
    """
    out_h, out_w = size
    cut_x = int(out_w * uniform(rng, 0.3, 0.7))
    cut_y = int(out_h * uniform(rng, 0.3, 0.7))
    canvas = np.full((out_h, out_w, 3), LETTERBOX_FILL, np.uint8)
    quadrants = (
        (0, 0, cut_x, cut_y),
        (0, cut_y, cut_x, out_h),
        (cut_x, cut_y, out_w, out_h),
        (cut_x, 0, out_w, cut_y),
    )
    all_boxes, all_ids = [], []
    for image, boxes, ids, region in zip(images, boxes_list, ids_list, quadrants):
        ih, iw = image.shape[:2]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if rng.random() < flip:
            image = cv2.flip(image, 1)
            boxes = flip_boxes(boxes, iw)
        nw, nh = _jittered_size(iw, ih, out_w, out_h, rng, jitter, uniform(rng, *scale_range))
        # Anchor the image's inner corner at the cut point.
        dx = cut_x - nw if region[0] == 0 else cut_x
        dy = cut_y - nh if region[1] == 0 else cut_y
        paste(canvas, resize(image, nw, nh), dx, dy, region)
        boxes, ids = clip_boxes(transform_boxes(boxes, nw / iw, nh / ih, dx, dy), ids, region)
        all_boxes.append(boxes)
        all_ids.append(ids)
    canvas = hsv_jitter(canvas, rng, hue, sat, val)
    return canvas, np.concatenate(all_boxes), np.concatenate(all_ids)


def mixup(image_a, boxes_a, ids_a, image_b, boxes_b, ids_b):
    """0.5/0.5 blend of two same-sized images; the box sets are concatenated."""
    blended = cv2.addWeighted(image_a, 0.5, image_b, 0.5, 0.0)
    return blended, np.concatenate([boxes_a, boxes_b]), np.concatenate([ids_a, ids_b])
