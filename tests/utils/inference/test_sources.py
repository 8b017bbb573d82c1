"""Sources: what a --source string means, and clear errors when it cannot be used."""

import pytest
from PIL import Image

from utils.inference.sources import (
    SourceError,
    classify_source,
    list_images,
    open_capture,
    sample_image_path,
)


def test_default_source_is_a_shipped_sample_photo():
    kind, path = classify_source(None)
    assert kind == "image" and path == sample_image_path()
    assert Image.open(path).size == (512, 600)


def test_kinds(tmp_path):
    (tmp_path / "a.JPG").write_bytes(b"")
    (tmp_path / "clip.MP4").write_bytes(b"")
    assert classify_source("0") == ("camera", 0)
    assert classify_source(str(tmp_path)) == ("folder", str(tmp_path))
    assert classify_source(str(tmp_path / "clip.MP4"))[0] == "video"
    assert classify_source(str(tmp_path / "a.JPG"))[0] == "image"
    with pytest.raises(SourceError, match="nope.png: no such file"):
        classify_source(str(tmp_path / "nope.png"))


def test_list_images_keeps_image_files_sorted(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt", "clip.mp4"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.rsplit("/", 1)[-1] for p in list_images(str(tmp_path))] == ["a.jpg", "b.png"]


def test_unreadable_video_and_missing_camera(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="bad.mp4: cannot open as a video"):
        open_capture("video", str(bad))
    with pytest.raises(SourceError, match="camera 9"):
        open_capture("camera", 9)
