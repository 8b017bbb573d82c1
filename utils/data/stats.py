"""What a dataset holds, as check_dataset.py prints it: images and boxes per class and split, and
the sizes of the boxes (COCO's small / medium / large areas, in the pixels of the stored image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utils.data.samples import Sample

# COCO's area ranges: small below 32x32 pixels, large above 96x96.
SMALL_AREA = 32**2
LARGE_AREA = 96**2


def class_table(split_samples: dict, class_names: Sequence[str]) -> str:
    """One row per class, one column per split: 'images / boxes', difficult boxes in brackets;
    a last row counts the images of each split."""
    splits = list(split_samples)
    cells = {}
    for split, samples in split_samples.items():
        for class_id, name in enumerate(class_names):
            images = boxes = hard = 0
            for sample in samples:
                mine = np.asarray(sample.class_ids) == class_id
                if mine.any():
                    images += 1
                    boxes += int(mine.sum())
                    hard += int(np.asarray(sample.difficult)[mine].sum())
            cells[name, split] = f"{images} / {boxes}" + (f" ({hard})" if hard else "")
        background = sum(1 for s in samples if not len(s.boxes))
        cells["(images)", split] = f"{len(samples)}" + (
            f", {background} background" if background else ""
        )
    names = [*class_names, "(images)"]
    width = max(len(n) for n in [*names, "class"])
    col = max(
        16, *(len(cells[n, s]) for n in names for s in splits), *(len(str(s)) for s in splits)
    )
    lines = [f"{'class':<{width}}" + "".join(f"  {s!s:>{col}}" for s in splits)]
    lines += [f"{n:<{width}}" + "".join(f"  {cells[n, s]:>{col}}" for s in splits) for n in names]
    return "\n".join(lines)


def box_size_summary(samples: Sequence[Sample]) -> str:
    """Counts and shares of small, medium and large boxes, and the median and smallest box."""
    boxes = [np.asarray(s.boxes, np.float64).reshape(-1, 4) for s in samples]
    sides = [
        (b[:, 2:] - b[:, :2], np.array([[s.width, s.height]], np.float64))
        for b, s in zip(boxes, samples)
        if len(b)
    ]
    if not sides:
        return "box sizes: no boxes"
    wh = np.concatenate([size for size, _ in sides])
    relative = np.concatenate([size / image for size, image in sides])
    area = wh[:, 0] * wh[:, 1]
    small = int((area < SMALL_AREA).sum())
    large = int((area >= LARGE_AREA).sum())
    medium = len(area) - small - large
    share = {k: 100.0 * v / len(area) for k, v in (("s", small), ("m", medium), ("l", large))}
    median = np.median(wh, axis=0)
    smallest = wh[np.argmin(area)]
    return "\n".join(
        [
            f"box sizes ({len(area)} boxes, pixels of the stored images):",
            f"  small (< 32x32)  {small:>7}  {share['s']:5.1f}%",
            f"  medium           {medium:>7}  {share['m']:5.1f}%",
            f"  large (>= 96x96) {large:>7}  {share['l']:5.1f}%",
            (
                f"  median {median[0]:.0f}x{median[1]:.0f} px "
                f"({100 * np.median(relative[:, 0]):.1f}% x "
                f"{100 * np.median(relative[:, 1]):.1f}% of the image), "
                f"smallest {smallest[0]:.0f}x{smallest[1]:.0f} px"
            ),
        ]
    )
