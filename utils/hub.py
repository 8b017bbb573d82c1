"""Pretrained weights: where the published file of a backbone is cached and how it is fetched.

Which file belongs to which (backbone, alpha) is a fact of the backbone registry
(``nets.backbones``). Without ``--weights`` the file is downloaded once from the reference
implementation's release assets into the cache folder (``$YOLO_LITE_CACHE_DIR``, default
``~/.cache/yolov4-lite``) and reused afterwards.
"""

import os
import sys
import urllib.error
import urllib.request

from nets.backbones import backbone_specs, get_backbone
from nets.errors import UserError
from utils.files import atomic_path

RELEASE_URL = "https://github.com/bubbliiiing/mobilenet-yolov4-lite-tf2/releases/download/v1.0/"
CACHE_ENV = "YOLO_LITE_CACHE_DIR"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "yolov4-lite")


class WeightsUnavailableError(UserError):
    """No weights file could be found or downloaded; the message says what to do."""


def cache_dir():
    """The folder pretrained files are cached in ($YOLO_LITE_CACHE_DIR or ~/.cache/yolov4-lite)."""
    return os.path.abspath(os.path.expanduser(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR))


def pretrained_name(backbone, alpha):
    """File name of the published VOC weights for (backbone, alpha), or None if there is none."""
    try:
        return get_backbone(str(backbone).lower()).pretrained_file(alpha)
    except UserError:
        return None


def weights_url(name):
    return RELEASE_URL + name


def _available():
    return ", ".join(
        f"{spec.name} {alpha:g}" for spec in backbone_specs() for alpha in sorted(spec.pretrained)
    )


def download(url, destination, progress=True, timeout=30):
    """Download ``url`` to ``destination`` atomically (a partial download never lands there)."""
    from tqdm import tqdm

    with (
        atomic_path(destination, suffix=".part") as tmp,
        open(tmp, "wb") as out,
        urllib.request.urlopen(url, timeout=timeout) as response,
    ):
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=os.path.basename(destination),
            disable=not progress,
            file=sys.stderr,
        ) as bar:
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and out.tell() != total:
            raise OSError(f"incomplete download ({out.tell()} of {total} bytes)")
    return destination


def resolve_weights(backbone, alpha, weights=None, progress=True):
    """Path of the weights to load.

    Args:
        backbone, alpha: the model variant.
        weights: a file path (returned after checking it exists), or None for the published
            VOC weights of (backbone, alpha): taken from the cache, or downloaded once into it.

    Raises:
        FileNotFoundError: a given path does not exist.
        WeightsUnavailableError: no published file for the variant, or the download failed; the
            message names the file, its address and the folder to put it in.
    """
    if weights:
        path = os.path.expanduser(os.fspath(weights))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        return path
    name = pretrained_name(backbone, alpha)
    if name is None:
        raise WeightsUnavailableError(
            f"no pretrained weights are published for {backbone} alpha {float(alpha):g} "
            f"(available: {_available()}); pass --weights FILE"
        )
    folder = cache_dir()
    path = os.path.join(folder, name)
    if os.path.isfile(path):
        return path
    url = weights_url(name)
    print(f"Downloading {name} (once) from {url} to {folder}", file=sys.stderr)
    try:
        return download(url, path, progress=progress)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsUnavailableError(
            f"could not download {name} ({reason}); download {url} yourself and put it in "
            f"{folder} (or set {CACHE_ENV}, or pass --weights FILE)"
        ) from None
