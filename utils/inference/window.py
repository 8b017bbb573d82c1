"""The --show window (OpenCV's HighGUI).

OpenCV's Qt backend aborts the whole process when it finds no display, rather than raising, so
the display is looked for before the GUI is touched.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from utils.inference.sources import SourceError

WINDOW_TITLE = "YOLOv4-lite"
QUIT_KEYS = (27, ord("q"))  # Esc, q
_sized: list[bool] = []  # the window has been given the first image's size


def _no_gui() -> SourceError:
    return SourceError(
        "--show needs OpenCV with GUI support (pip install opencv-python); this OpenCV is headless"
    )


def has_display() -> bool:
    """Whether a window can appear: X11 or Wayland on Linux; always elsewhere."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_gui() -> None:
    """Fail early, before a model is built, when no window can be opened."""
    if not has_display():
        raise SourceError(
            "--show needs a display, and none is set (DISPLAY is empty); drop --show, or run "
            "under a desktop session or xvfb-run"
        )
    import cv2

    try:
        cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL)
    except cv2.error:
        raise _no_gui() from None


def show_image(image: object, wait_ms: int = 1) -> int:
    """Show an RGB image (PIL or array) in the window; returns the key pressed (-1 & 0xFF
    when none)."""
    import cv2

    pixels = np.asarray(image)
    try:
        if not _sized:
            # The window opens small (Qt's default); show the frames at their own size.
            cv2.resizeWindow(WINDOW_TITLE, int(pixels.shape[1]), int(pixels.shape[0]))
            _sized.append(True)
        cv2.imshow(WINDOW_TITLE, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        return cv2.waitKey(wait_ms) & 0xFF
    except cv2.error:
        raise _no_gui() from None


def wait_for_key() -> None:
    """Keep the window open until a key is pressed (after the last of several images)."""
    import cv2

    cv2.waitKey(0)
