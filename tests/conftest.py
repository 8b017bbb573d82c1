"""Shared fixtures and the test tiers.

Tests that need ../shared skip without it, and fail if REQUIRE_SHARED=1. Markers (see the
README): ``slow`` for real training runs and other long tests (marked by hand), ``shared`` for
tests that read ../shared (marked here, from the test's and its fixtures' source), so
``python -m pytest -m "not slow"`` is the fast tier and ``-m "not shared"`` runs without the data.
"""

import collections
import inspect
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("YOLO_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# What marks a test or fixture as reading ../shared.
_SHARED_WORDS = ("shared_path(", "shared(", "SHARED", "voc_subset(", "dataset_ids(")


def shared_path(*parts):
    """Path under ../shared; skips the test (or fails with REQUIRE_SHARED=1) when missing."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        message = f"needs ../shared data: {path} is absent"
        if os.environ.get("REQUIRE_SHARED") == "1":
            pytest.fail(message + " (REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


def dataset_ids(dataset, split, count=None):
    """The first ``count`` image ids of a split of a VOC dataset in ../shared."""
    path = shared_path("datasets", dataset, "VOC2007", "ImageSets", "Main", f"{split}.txt")
    ids = [line.split()[0] for line in open(path) if line.strip()]
    return ids[:count] if count is not None else ids


def voc_subset(folder, dataset, splits, name="voc"):
    """A VOC folder in ``folder`` whose Annotations/ and JPEGImages/ link to a ../shared dataset
    and whose split files hold ``splits`` ({split name: ids}); returns its path."""
    source = shared_path("datasets", dataset, "VOC2007")
    root = os.path.join(folder, name)
    os.makedirs(os.path.join(root, "ImageSets", "Main"))
    for sub in ("Annotations", "JPEGImages"):
        os.symlink(os.path.join(source, sub), os.path.join(root, sub))
    for split, ids in splits.items():
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))
    return root


@pytest.fixture
def shared():
    """Callable fixture: shared('reference', 'street.jpg') -> path, or skip/fail."""
    return shared_path


@pytest.fixture(scope="session")
def v1_025_weights():
    return shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5")


def _shared_readers(module):
    """Names of the module's functions that read ../shared, directly or through each other."""
    functions = {
        name: inspect.getsource(obj)
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module.__name__
    }
    words = list(_SHARED_WORDS)
    readers = set()
    while True:
        found = {
            name
            for name, source in functions.items()
            if name not in readers and any(word in source.split(":", 1)[-1] for word in words)
        }
        if not found:
            return words
        readers |= found
        words += [f"{name}(" for name in found]


def _reads_shared(function, words):
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(word in source for word in words)


def _uses_shared(item, cache):
    module = item.module
    if module not in cache:
        cache[module] = _shared_readers(module)
    if _reads_shared(getattr(item, "function", None), cache[module]):
        return True
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    for name in item.fixturenames:
        for definition in definitions.get(name, ()):
            fixture_module = sys.modules.get(definition.func.__module__)
            if fixture_module is not None and fixture_module not in cache:
                cache[fixture_module] = _shared_readers(fixture_module)
            if _reads_shared(definition.func, cache.get(fixture_module, _SHARED_WORDS)):
                return True
    return False


def pytest_collection_modifyitems(config, items):
    cache = {}
    for item in items:
        if _uses_shared(item, cache):
            item.add_marker(pytest.mark.shared)


# ----------------------------------------------------------------------------- robustness table
# The summary of tests/robustness at the end of the run: cases, passed, per command. It lives
# here, not in tests/robustness/, because under pytest-xdist only this conftest is loaded by the
# controlling process, which receives the workers' reports.

_ROBUSTNESS_RESULTS = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "robustness":
            command, case, passed = value
            _ROBUSTNESS_RESULTS.append((command, case, bool(passed) and report.passed))


def pytest_terminal_summary(terminalreporter):
    if not _ROBUSTNESS_RESULTS:
        return
    per_command = collections.defaultdict(lambda: [0, 0])
    for command, _, passed in _ROBUSTNESS_RESULTS:
        per_command[command][0] += 1
        per_command[command][1] += passed
    write = terminalreporter.write_line
    write(
        f"robustness table: {len(_ROBUSTNESS_RESULTS)} cases, "
        f"{sum(p for _, _, p in _ROBUSTNESS_RESULTS)} passed"
    )
    for command, (count, passed) in sorted(per_command.items()):
        write(f"  {command:<24} {passed}/{count} passed")
