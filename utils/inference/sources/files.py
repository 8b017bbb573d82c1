"""Image sources: one image, a folder, a glob pattern, a text file listing images.

Each becomes a list of paths, checked when opened (an empty folder or a pattern that matches
nothing is an error then); an image that cannot be read when its turn comes is reported and
skipped, and the rest are detected.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

import numpy as np

from utils.files import read_list_file
from utils.inference.sources import (
    Frame,
    FrameSource,
    SourceError,
    SourceSettings,
    register_source,
)

# The characters that make a --source a glob pattern rather than a path.
_GLOB_CHARACTERS = "*?["
# A list of images is a text file with one of these extensions.
LIST_EXTENSIONS = (".txt", ".list")


def list_images(folder: str) -> list[str]:
    """Image files directly in ``folder``, sorted by name."""
    from utils.data.images import is_image_file

    names = sorted(
        n
        for n in os.listdir(folder)
        if is_image_file(n) and os.path.isfile(os.path.join(folder, n))
    )
    return [os.path.join(folder, n) for n in names]


class ImageFiles(FrameSource):
    """Image paths, detected in batches; the shared base of the image sources."""

    def __init__(self, text: str, settings: SourceSettings) -> None:
        super().__init__(text)
        self.settings = settings
        self.paths = self.find_paths(text)
        if not self.paths:
            raise SourceError(self.empty_message(text))
        self.total = len(self.paths)

    def find_paths(self, text: str) -> list[str]:
        raise NotImplementedError

    def empty_message(self, text: str) -> str:
        return f"{text}: no images"

    def frames(self) -> Iterator[Frame]:
        from utils.data.images import ImageLoadError, load_image

        for index, path in enumerate(self.paths):
            try:
                image = np.asarray(load_image(path))
            except ImageLoadError as exc:
                yield Frame(None, path, index, error=str(exc))
                continue
            yield Frame(image, path, index)


@register_source
class OneImage(ImageFiles):
    kind = "image"

    @classmethod
    def matches(cls, text: str) -> bool:
        from utils.inference.sources.video import VIDEO_EXTENSIONS

        extension = os.path.splitext(text)[1].lower()
        return os.path.isfile(text) and extension not in (*LIST_EXTENSIONS, *VIDEO_EXTENSIONS)

    def find_paths(self, text: str) -> list[str]:
        from utils.data.images import load_image

        load_image(text)  # an unreadable single image is an error, not a skipped file
        return [text]


@register_source
class ImageFolder(ImageFiles):
    kind = "folder"

    @classmethod
    def matches(cls, text: str) -> bool:
        return os.path.isdir(text)

    def find_paths(self, text: str) -> list[str]:
        return list_images(text)

    def empty_message(self, text: str) -> str:
        return f"{text}: no image files in this folder"


@register_source
class ImagePattern(ImageFiles):
    """'photos/*.jpg', 'data/**/*.png' (recursive), matched by the shell's rules."""

    kind = "glob"

    @classmethod
    def matches(cls, text: str) -> bool:
        return any(c in text for c in _GLOB_CHARACTERS) and not os.path.exists(text)

    def find_paths(self, text: str) -> list[str]:
        from utils.data.images import is_image_file

        matched = sorted(glob.glob(text, recursive=True))
        return [p for p in matched if os.path.isfile(p) and is_image_file(p)]

    def empty_message(self, text: str) -> str:
        return f"{text}: the pattern matches no image files"


@register_source
class ImageList(ImageFiles):
    """A text file naming one image per line; relative paths are read from the file's folder,
    blank lines and lines starting with # are skipped."""

    kind = "list"

    @classmethod
    def matches(cls, text: str) -> bool:
        return os.path.isfile(text) and text.lower().endswith(LIST_EXTENSIONS)

    def find_paths(self, text: str) -> list[str]:
        try:
            entries = read_list_file(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"{text}: cannot read the list of images ({exc})") from None
        base = os.path.dirname(os.path.abspath(text))
        paths = [line if os.path.isabs(line) else os.path.join(base, line) for _, line in entries]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise SourceError(f"{text}: lists {missing[0]}, which does not exist{more}")
        return paths

    def empty_message(self, text: str) -> str:
        return f"{text}: the list names no images"
