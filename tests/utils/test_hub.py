"""Pretrained weights resolve from a given path, the cache, or a one-time download."""

import os

import pytest

from nets import backbone_specs
from utils import hub


def test_every_published_file_is_registered():
    assert hub.pretrained_name("mobilenetv1", 0.25) == "yolov4_mobilenet_v1_025_voc.h5"
    assert hub.pretrained_name("mobilenetv1", 1) == "yolov4_mobilenet_v1_voc.h5"
    for spec in backbone_specs():
        for alpha in spec.alphas:
            name = hub.pretrained_name(spec.name, alpha)
            assert name == spec.pretrained.get(alpha)
            assert name is None or (name.startswith("yolov4_") and name.endswith("_voc.h5"))
    assert hub.pretrained_name("mobilenetv1", 0.5) is None
    assert hub.weights_url("x.h5").startswith("https://github.com/bubbliiiing/")


def test_given_path_is_checked(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"x")
    assert hub.resolve_weights("ghostnet", 1.0, str(path)) == str(path)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        hub.resolve_weights("ghostnet", 1.0, str(tmp_path / "missing.h5"))


def test_cached_file_is_used_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path))
    (tmp_path / "yolov4_ghostnet_voc.h5").write_bytes(b"x")
    monkeypatch.setattr(hub, "download", lambda *a, **k: pytest.fail("no download expected"))
    assert hub.resolve_weights("ghostnet", 1.0) == str(tmp_path / "yolov4_ghostnet_voc.h5")


def test_download_once_atomically(tmp_path, monkeypatch):
    release = tmp_path / "release"
    release.mkdir()
    (release / "yolov4_mobilenet_v3_voc.h5").write_bytes(b"weights" * 1000)
    monkeypatch.setattr(hub, "RELEASE_URL", release.as_uri() + "/")
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    path = hub.resolve_weights("mobilenetv3", 1.0, progress=False)
    assert open(path, "rb").read() == b"weights" * 1000
    assert os.listdir(tmp_path / "cache") == ["yolov4_mobilenet_v3_voc.h5"]


def test_failed_download_says_what_to_get_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "RELEASE_URL", (tmp_path / "nowhere").as_uri() + "/")
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(hub.WeightsUnavailableError) as info:
        hub.resolve_weights("densenet121", 1.0, progress=False)
    message = str(info.value)
    assert "yolov4_densenet121_voc.h5" in message and str(tmp_path / "cache") in message
    assert not os.listdir(tmp_path / "cache"), "no partial file left behind"
    with pytest.raises(hub.WeightsUnavailableError, match="no pretrained weights"):
        hub.resolve_weights("mobilenetv2", 0.5)


def test_default_cache_dir(monkeypatch):
    monkeypatch.delenv(hub.CACHE_ENV, raising=False)
    assert hub.cache_dir() == os.path.expanduser(os.path.join("~", ".cache", "yolov4-lite"))
