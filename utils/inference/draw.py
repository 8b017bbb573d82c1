"""Drawing results: labelled boxes, crops and the objectness heat map.

The label font is DejaVu Sans, which matplotlib (a dependency) ships, so it exists on a fresh
machine; PIL's built-in font is the fallback. Sizes scale with the image so labels stay readable
on both thumbnails and large photos.
"""

import colorsys
import functools
import os

import numpy as np
from PIL import ImageDraw, ImageFont

from utils.files import write_figure


def class_colors(num_classes):
    """One RGB colour per class, hues evenly spaced around the colour wheel."""
    colors = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb(i / max(num_classes, 1), 1.0, 1.0)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return colors


@functools.cache
def _font_path():
    # matplotlib ships DejaVu Sans; finding the file directly spares predict.py the 0.2 s that
    # importing matplotlib's font manager takes.
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec and spec.submodule_search_locations) or ():
        bundled = os.path.join(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
        if os.path.isfile(bundled):
            return bundled
    try:
        from matplotlib import font_manager

        return font_manager.findfont("DejaVu Sans", fallback_to_default=True)
    except Exception:  # matplotlib missing or broken: PIL's default font still works
        return None


@functools.lru_cache(maxsize=64)
def label_font(size):
    """A TrueType font of ``size`` pixels (DejaVu Sans), or PIL's default font."""
    path = _font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _text_color(rgb):
    """Black or white, whichever reads better on ``rgb``."""
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def draw_detections(image, detections, class_names, colors=None, show_scores=True, copy=True):
    """Return a copy of ``image`` with labelled boxes ("name 0.97", tracked: "name #7 0.97")
    drawn on it; tracked boxes take their track's colour, so two cars look different.
    ``copy=False`` draws on ``image`` itself when it is RGB (a frame made for drawing).

    Args:
        image: RGB ``PIL.Image``.
        detections: :class:`utils.inference.detector.Detections` in this image's pixels.
        class_names: names indexed by class id.
        colors: optional list of RGB tuples per class (default: :func:`class_colors`).
    """
    if image.mode != "RGB":
        image = image.convert("RGB")  # a new image already
    elif copy:
        image = image.copy()
    width, height = image.size
    colors = colors or class_colors(len(class_names))
    # Font about 3% of the image height (the reference's choice) but never below 11 px.
    font = label_font(max(11, int(0.03 * height + 0.5)))
    thickness = max(1, int(round((width + height) / 600)))
    draw = ImageDraw.Draw(image)
    boxes = detections.clipped_boxes(width, height)
    # Draw low scores first so the most confident labels end up on top.
    for i in np.argsort(detections.scores, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        cid = int(detections.class_ids[i])
        color = colors[cid % len(colors)]
        label = class_names[cid] if cid < len(class_names) else str(cid)
        if detections.track_ids is not None:
            color = track_color(int(detections.track_ids[i]))
            label = f"{label} #{int(detections.track_ids[i])}"
        draw.rectangle([x1, y1, x2, y2], outline=color, width=thickness)
        if show_scores:
            label = f"{label} {float(detections.scores[i]):.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left, bottom - top
        pad = max(1, text_h // 6)
        box_h = text_h + 2 * pad
        # Label above the box when there is room, otherwise just inside it.
        ty = y1 - box_h if y1 - box_h >= 0 else y1
        tx = min(max(x1, 0), max(width - text_w - 2 * pad, 0))
        draw.rectangle([tx, ty, tx + text_w + 2 * pad, ty + box_h], fill=color)
        draw.text((tx + pad - left, ty + pad - top), label, fill=_text_color(color), font=font)
    return image


def track_color(track_id):
    """A bright colour per track id; neighbouring ids get far-apart hues (golden-ratio steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return (int(r * 255), int(g * 255), int(b * 255))


def draw_trails(image, trails, thickness=2):
    """Draw each track's recent centres ({id: [(x, y), ...]}) as a line in its colour."""
    draw = ImageDraw.Draw(image)
    for track_id, points in trails.items():
        if len(points) > 1:
            draw.line([tuple(p) for p in points], fill=track_color(track_id), width=thickness)
    return image


def draw_label(image, text, position, color=(255, 255, 255), size=None):
    """Text on a dark box at ``position`` (x, y) of a PIL image, for counts and FPS."""
    draw = ImageDraw.Draw(image)
    font = label_font(size or max(11, int(0.03 * image.size[1] + 0.5)))
    left, top, right, bottom = draw.textbbox(position, text, font=font)
    draw.rectangle([left - 3, top - 3, right + 3, bottom + 3], fill=(0, 0, 0))
    draw.text(position, text, fill=color, font=font)
    return bottom + 3


def crop_detections(image, detections, margin=0):
    """Crops of ``image`` for each detection (boxes clipped to the image), in detection order."""
    width, height = image.size
    crops = []
    for x1, y1, x2, y2 in detections.clipped_boxes(width, height):
        box = (
            int(max(np.floor(x1) - margin, 0)),
            int(max(np.floor(y1) - margin, 0)),
            int(min(np.ceil(x2) + margin, width)),
            int(min(np.ceil(y2) + margin, height)),
        )
        if box[2] > box[0] and box[3] > box[1]:
            crops.append(image.crop(box))
        else:
            crops.append(None)
    return crops


def save_heatmap(image, heat, path, alpha=0.5):
    """Save the objectness heat map over ``image`` as a PNG with a colour bar (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width, height = image.size
    dpi = 100
    fig, ax = plt.subplots(figsize=(max(width / dpi, 3) + 1.2, max(height / dpi, 3)), dpi=dpi)
    try:
        ax.imshow(image)
        shown = ax.imshow(heat, cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="objectness")
        write_figure(path, fig, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    return path


def count_by_class(detections, class_names):
    """{class name: count} for the detections, most frequent first."""
    counts: dict[str, int] = {}
    for cid in detections.class_ids:
        name = class_names[int(cid)]
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
