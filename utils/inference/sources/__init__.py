"""Where frames come from: the registry of sources that turns ``--source`` into frames.

A source is a class with ``matches(text) -> bool`` and a constructor ``(text, settings)``;
``register_source`` adds one, and :func:`open_source` asks each registered source in order
whether the text is its own (the first that says yes opens it). Opening checks the source
right away, so a bad ``--source`` fails with one line before seconds go into the model.

Every source yields :class:`Frame` objects; one that cannot be read yields a frame with
``error`` set (the pipeline records it and goes on).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from nets.errors import UserError


class SourceError(UserError, ValueError):
    """A source cannot be used (missing, unreadable, unknown kind, camera absent, no GUI)."""


@dataclass
class Frame:
    """One image or video frame: RGB pixels (None when unreadable), where it came from."""

    image: np.ndarray | None  # HxWx3 uint8 RGB
    name: str  # the file for images; the source's name for video frames
    index: int  # position in the source, from 0 (a video's frame number)
    timestamp: float | None = None  # seconds from the source's start (video frames)
    error: str | None = None  # why the image could not be read

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        assert self.image is not None
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class SourceSettings:
    """What a source needs from the command line."""

    stream_mode: str | None = None  # "latest", "all", or None for the source's default
    vid_stride: int = 1
    reconnect: int = 5
    log: Any = print  # where a source reports skipped frames and dropped connections


class FrameSource:
    """The base of every source. Subclasses set the class attributes, implement
    :meth:`matches` and :meth:`frames`, and open (and check) the source in ``__init__``."""

    kind = ""  # the registered name
    is_video = False  # frames of one video (one output video) rather than separate images
    live = False  # a camera or stream: frames arrive in real time

    def __init__(self, name: str) -> None:
        self.name = name  # shown in messages: a path, 'camera:0', a stream URL
        self.batchable = True  # several frames may be detected in one run of the model
        self.fps: float | None = None
        self.total: int | None = None  # frames (or images) to expect, when known
        self.stats: dict[str, Any] = {}  # what the source counted (dropped frames...)
        self.stride = 1  # every how many of the source's frames one is detected

    @classmethod
    def matches(cls, text: str) -> bool:
        raise NotImplementedError

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a capture, a reader thread)."""

    def summary(self) -> str:
        """What went wrong while reading, for the run's closing line ('' when nothing)."""
        return ""

    @property
    def output_stem(self) -> str:
        """The name of the source's output video, without extension."""
        return os.path.splitext(os.path.basename(self.name))[0] or self.kind


_SOURCES: list[type[FrameSource]] = []


def register_source(source: type[FrameSource]) -> type[FrameSource]:
    """Add a source class (a decorator); sources registered first are asked first."""
    _SOURCES.append(source)
    return source


def source_kinds() -> list[str]:
    _builtin_sources()
    return [source.kind for source in _SOURCES]


def _builtin_sources() -> None:
    # Importing the modules registers their sources (streams and cameras before files, so
    # 'rtsp://...' and '0' never reach the file checks).
    from utils.inference.sources import files, video  # noqa: F401


def classify_source(text: str | None) -> type[FrameSource]:
    """The registered source class that ``text`` names (None: the sample photo)."""
    _builtin_sources()
    text = sample_image_path() if text is None else str(text)
    for source in _SOURCES:
        if source.matches(text):
            return source
    if not os.path.exists(text):
        raise SourceError(f"{text}: no such file or folder")
    raise SourceError(f"{text}: not an image, video, folder or list of images")


def open_source(text: str | None, settings: SourceSettings | None = None) -> FrameSource:
    """Open ``--source`` (None: the sample photo): a checked, ready source or a SourceError."""
    text = sample_image_path() if text is None else str(text)
    return classify_source(text)(text, settings or SourceSettings())  # type: ignore[call-arg]


def sample_image_path() -> str:
    """A photo shipped with matplotlib (an installed dependency): the default source."""
    from utils.data.sample_photo import sample_photo_path

    path = sample_photo_path()
    if path is None:
        raise SourceError(
            "no source given and matplotlib's sample photo is missing; pass --source IMAGE"
        )
    return path
