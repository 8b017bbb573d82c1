"""Where detection input comes from: image files, folders, video files, cameras; OpenCV windows.

``classify_source`` turns a --source string into ('image' | 'folder' | 'video' | 'camera', value)
and fails with a :class:`SourceError` (one line, naming the path) when it cannot be used.
"""

import os

from nets.errors import UserError

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ts",
)
WINDOW_TITLE = "YOLOv4-lite"


class SourceError(UserError, ValueError):
    """A source cannot be used (missing, unreadable, unknown kind, camera absent, no GUI)."""


def sample_image_path():
    """A photo shipped with matplotlib (an installed dependency): the default source."""
    from utils.data.sample_photo import sample_photo_path

    path = sample_photo_path()
    if path is None:
        raise SourceError(
            "no source given and matplotlib's sample photo is missing; pass --source IMAGE"
        )
    return path


def classify_source(source):
    """('image' | 'folder' | 'video' | 'camera', value) for a source string (None: sample)."""
    if source is None:
        return "image", sample_image_path()
    text = str(source)
    if text.isdigit():
        return "camera", int(text)
    if os.path.isdir(text):
        return "folder", text
    if not os.path.exists(text):
        raise SourceError(f"{text}: no such file or folder")
    if os.path.splitext(text)[1].lower() in VIDEO_EXTENSIONS:
        return "video", text
    return "image", text


def list_images(folder):
    """Image files directly in ``folder``, sorted by name."""
    from utils.data.images import is_image_file

    names = sorted(
        n
        for n in os.listdir(folder)
        if is_image_file(n) and os.path.isfile(os.path.join(folder, n))
    )
    return [os.path.join(folder, n) for n in names]


def open_capture(kind, value):
    """An opened ``cv2.VideoCapture`` for a video file or camera index, or a SourceError."""
    import cv2

    capture = cv2.VideoCapture(value)
    if not capture.isOpened():
        capture.release()
        if kind == "camera":
            raise SourceError(f"camera {value} cannot be opened (no such camera, or it is busy)")
        raise SourceError(f"{value}: cannot open as a video (unsupported or corrupt file)")
    return capture


def _no_gui():
    return SourceError(
        "--show needs OpenCV with GUI support (pip install opencv-python); this OpenCV is headless"
    )


def check_gui():
    """Fail early, before a model is built, when no window can be opened."""
    import cv2

    try:
        cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL)
    except cv2.error:
        raise _no_gui() from None


def show_image(image, wait_ms=1):
    """Show an RGB PIL image in the OpenCV window; returns the key pressed (or -1 & 0xFF)."""
    import cv2
    import numpy as np

    try:
        cv2.imshow(WINDOW_TITLE, cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        return cv2.waitKey(wait_ms) & 0xFF
    except cv2.error:
        raise _no_gui() from None
