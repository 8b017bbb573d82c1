"""Writing files so that a reader never sees half of one: the project's atomic-write helpers.

Everything the tools leave on disk (checkpoints, training state, results, split files, drawings,
plots, videos, downloads) goes through :func:`atomic_path`, folders (an exported SavedModel, the
per-image text files of a ``map_out`` folder) through :func:`atomic_folder`: the content is
written to a uniquely named temporary in the destination's folder and renamed over the
destination only once complete. A crash, Ctrl-C or a
full disk at any moment leaves either the previous file or the new one. Ctrl-C and a full disk
also remove the temporary file; a killed process cannot, so a hidden ``.<name>.<random>.tmp``
file may stay behind: :func:`remove_temporaries` clears them (train.py does at every start).
A full disk (or quota, or file-size limit) becomes a :class:`DiskFullError` naming the file.
(Files are not fsync'ed: the guarantee is against an interrupted process, not a power cut.)
"""

import contextlib
import errno
import io
import json
import os
import re
import shutil
import tempfile

from nets.errors import UserError

# Out of space, over quota, over the process's file-size limit: the same fault to a user.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# The names atomic_path and atomic_folder give their temporaries.
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.(tmp|old)(\..*)?")


class DiskFullError(UserError, OSError):
    """A write failed for lack of space; nothing half-written was left."""

    def __str__(self):
        return self.strerror


def is_no_space(exc):
    """Whether ``exc`` (an OSError, or a library's error that only says it in its message) is
    a write that failed for lack of space."""
    if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
        return True
    text = str(exc)
    return any(os.strerror(code) in text for code in NO_SPACE_ERRNOS)


_NO_SPACE_HINTS = {errno.EFBIG: " (over the file-size limit: see ulimit -f)"}


def disk_full_error(path, exc):
    """The :class:`DiskFullError` to raise for ``exc`` while writing ``path``."""
    code = next(
        (
            c
            for c in NO_SPACE_ERRNOS
            if c == getattr(exc, "errno", None) or os.strerror(c) in str(exc)
        ),
        errno.ENOSPC,
    )
    return DiskFullError(
        code,
        f"cannot write {path}: {os.strerror(code)}"
        f"{_NO_SPACE_HINTS.get(code, '')}; nothing half-written was left",
    )


@contextlib.contextmanager
def no_space_as_disk_full(path):
    """Turn a write inside the block that failed for lack of space (however the library
    reported it) into a :class:`DiskFullError` naming ``path``."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_no_space(exc):
            raise disk_full_error(path, exc) from exc
        raise


def is_temporary(name):
    """Whether a file name is one of the temporaries of :func:`atomic_path` or
    :func:`atomic_folder`."""
    return bool(_TEMPORARY_NAME.fullmatch(name))


def remove_temporaries(directory):
    """Delete the temporaries a killed writer left in ``directory`` (not below it); returns
    their names. Only for a folder no other process is writing to."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if is_temporary(entry.name):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(entry.path)
                removed.append(entry.name)
    return sorted(removed)


def _new_file_mode():
    """Permissions a plain open() would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    ``suffix`` (default: the destination's extension) keeps writers that choose a format by the
    file name (h5py, PIL, OpenCV) working. Parent folders are created.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if suffix is None:
        suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp" + suffix, dir=directory
    )
    os.close(fd)
    with no_space_as_disk_full(path):
        try:
            yield tmp
            # mkstemp creates the file private (0600): give it the mode the destination has, or
            # the one a plainly written file would get.
            try:
                mode = os.stat(path).st_mode & 0o777
            except OSError:
                mode = _new_file_mode()
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise


@contextlib.contextmanager
def atomic_folder(path):
    """Yield a temporary folder that replaces the folder ``path`` once the block succeeds
    (the old one is removed); on error it is removed and ``path`` stays as it was."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(path)
    tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent)
    with no_space_as_disk_full(path):
        try:
            yield tmp
            old = None
            if os.path.exists(path):
                old = tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=parent)
                os.rmdir(old)
                os.replace(path, old)
            os.replace(tmp, path)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _nearest_existing(path):
    """``path`` itself if it exists, else its nearest existing ancestor (as the user spelled
    it: ``.`` for the working folder)."""
    path = os.path.normpath(path)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent in ("", path):
            return parent or os.curdir
        path = parent
    return path


def _write_problem(folder):
    """Why no file can be created in the existing folder ``folder``, or None. Tries it: as root,
    ``os.access`` says yes to a read-only file system or to /proc and /sys."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES).lower()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=folder)
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    os.close(fd)
    with contextlib.suppress(OSError):
        os.remove(tmp)
    return None


def output_path_problem(path, kind):
    """Why ``path`` cannot receive a ``kind`` (``"folder"`` or ``"file"``), or None when it can.

    A folder must not be an existing file, a file not an existing folder, and the folder that
    will hold it (or, for one still to be created, its nearest existing ancestor) must be a
    folder in which files can be created. Nothing is created: the check leaves no trace.
    """
    path = os.fspath(path)
    if not path:
        return "an empty path"
    if kind == "folder":
        if os.path.lexists(path) and not os.path.isdir(path):
            if os.path.islink(path) and not os.path.exists(path):
                return "is a broken symbolic link"
            return "is a file, not a folder"
        holder = path
    elif kind == "file":
        if os.path.isdir(path):
            return "is a folder, not a file"
        holder = os.path.dirname(path) or os.curdir
    else:
        raise ValueError(f"kind must be 'folder' or 'file', not {kind!r}")
    existing = _nearest_existing(holder)
    if not os.path.isdir(existing):
        if os.path.islink(existing) and not os.path.exists(existing):
            return f"{existing} is a broken symbolic link"
        return f"{existing} is a file, not a folder"
    problem = _write_problem(existing)
    if problem:
        return f"cannot write in {existing} ({problem})"
    return None


def size_mb(path):
    """The size of a file, or of every file below a folder (a SavedModel), in MB of 2**20
    bytes (what every table of this project calls MB)."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    sizes = [
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    ]
    return sum(sizes) / 2**20


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf8"))


def write_image(path, image, **params):
    """Save a PIL image atomically, in the format its extension names. Encoded in memory first:
    PIL's encoders write to the file descriptor themselves and can leave a truncated file
    without raising when the disk is full."""
    from PIL import Image

    extension = os.path.splitext(path)[1].lower()
    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions().get(extension, "PNG"), **params)
    return write_bytes(path, buffer.getvalue())


def write_figure(path, figure, **params):
    """Save a matplotlib figure atomically as PNG (``params`` go to ``savefig``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **params)
    return write_bytes(path, buffer.getvalue())


def write_json(path, value, indent=1):
    """Write ``value`` as JSON to ``path`` atomically."""
    return write_text(path, json.dumps(value, indent=indent) + "\n")


def read_list_file(path: str) -> list[tuple[int, str]]:
    """``(line number, entry)`` of a text file listing one path a line: entries stripped, blank
    lines and ``#`` comments skipped, a UTF-8 byte-order mark ignored. Raises ``OSError`` or
    ``UnicodeDecodeError``."""
    with open(path, encoding="utf-8-sig") as handle:
        lines = [line.strip() for line in handle]
    return [(n, line) for n, line in enumerate(lines, 1) if line and not line.startswith("#")]
