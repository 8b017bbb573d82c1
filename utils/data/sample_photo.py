"""The sample photo every install has: matplotlib's Grace Hopper portrait (matplotlib is a
dependency). predict.py runs on it when no source is given; export.py checks its files on it."""

from __future__ import annotations

import os


def sample_photo_path() -> str | None:
    """The photo's path, or None where this matplotlib ships without its sample data."""
    from matplotlib import cbook

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError):
        path = None
    if not path or not os.path.isfile(str(path)):
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return str(path) if os.path.isfile(str(path)) else None
