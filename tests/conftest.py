"""Shared fixtures. Tests that need ../shared skip without it, and fail if REQUIRE_SHARED=1."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("YOLO_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def shared_path(*parts):
    """Path under ../shared; skips the test (or fails with REQUIRE_SHARED=1) when missing."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        message = f"needs ../shared data: {path} is absent"
        if os.environ.get("REQUIRE_SHARED") == "1":
            pytest.fail(message + " (REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


@pytest.fixture
def shared():
    """Callable fixture: shared('reference', 'street.jpg') -> path, or skip/fail."""
    return shared_path


@pytest.fixture(scope="session")
def v1_025_weights():
    return shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")
