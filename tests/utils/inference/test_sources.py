"""Sources: what a --source string means, and clear errors when it cannot be used."""

import numpy as np
import pytest
from PIL import Image

from utils.inference.sources import (
    SourceError,
    classify_source,
    open_source,
    sample_image_path,
    source_kinds,
)
from utils.inference.sources.files import list_images


def _image(path, size=(32, 24)):
    Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(path)
    return str(path)


def test_default_source_is_a_shipped_sample_photo():
    source = open_source(None)
    assert source.kind == "image" and source.paths == [sample_image_path()]
    assert Image.open(source.paths[0]).size == (512, 600)


def test_every_kind_is_registered_and_recognised(tmp_path):
    assert set(source_kinds()) >= {"image", "folder", "glob", "list", "video", "camera", "stream"}
    (tmp_path / "a.JPG").write_bytes(b"")
    (tmp_path / "clip.MP4").write_bytes(b"")
    (tmp_path / "list.txt").write_text("a.JPG\n")
    kind = lambda text: classify_source(text).kind  # noqa: E731
    assert kind("0") == "camera"
    assert kind(str(tmp_path)) == "folder"
    assert kind(str(tmp_path / "clip.MP4")) == "video"
    assert kind(str(tmp_path / "a.JPG")) == "image"
    assert kind(str(tmp_path / "*.JPG")) == "glob"
    assert kind(str(tmp_path / "list.txt")) == "list"
    assert kind("rtsp://127.0.0.1:8554/cam") == "stream"
    assert kind("http://127.0.0.1:8080/video.mjpg") == "stream"
    with pytest.raises(SourceError, match="nope.png: no such file"):
        classify_source(str(tmp_path / "nope.png"))


def test_list_images_keeps_image_files_sorted(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt", "clip.mp4"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.rsplit("/", 1)[-1] for p in list_images(str(tmp_path))] == ["a.jpg", "b.png"]


def test_glob_and_list_sources_read_their_images_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    paths = [_image(tmp_path / "b.png"), _image(tmp_path / "sub" / "a.png")]
    pattern = open_source(str(tmp_path / "**" / "*.png"))
    assert pattern.paths == sorted(paths)
    listing = tmp_path / "frames.txt"
    listing.write_text("# frames\nb.png\n\nsub/a.png\n")
    source = open_source(str(listing))
    frames = list(source.frames())
    assert [f.name for f in frames] == paths and all(f.image.shape == (24, 32, 3) for f in frames)


def test_empty_and_broken_image_sources_fail_with_one_line(tmp_path):
    with pytest.raises(SourceError, match="no image files in this folder"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match=r"\*\.png: the pattern matches no image files"):
        open_source(str(tmp_path / "*.png"))
    listing = tmp_path / "list.txt"
    listing.write_text("missing.jpg\n")
    with pytest.raises(SourceError, match="list.txt: lists .*missing.jpg, which does not exist"):
        open_source(str(listing))


def test_unreadable_video_missing_camera_and_dead_stream(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="bad.mp4: cannot open as a video"):
        open_source(str(bad))
    with pytest.raises(SourceError, match="camera 9"):
        open_source("9")
    with pytest.raises(SourceError, match="127.0.0.1:9/none.mjpg: cannot open the stream"):
        open_source("http://127.0.0.1:9/none.mjpg")
