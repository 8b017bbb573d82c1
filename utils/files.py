"""Writing files so that a reader never sees half of one: the project's one atomic-write helper.

Everything the tools leave on disk (checkpoints, training state, results, split files, drawings,
plots, downloads) goes through :func:`atomic_path`, except the per-image text files of a
``map_out`` folder (thousands of small files, rewritten whole by every evaluation): the content is written to a uniquely named temporary file in the
destination's folder and renamed over the destination only once complete. A crash, Ctrl-C or a
full disk at any moment leaves either the previous file or the new one, and no temporary file.
(Files are not fsync'ed: the guarantee is against an interrupted process, not a power cut.)
"""
import contextlib
import json
import os
import tempfile


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
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp" + suffix,
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates the file private (0600): give it the mode the destination has, or the
        # one a plainly written file would get.
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


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf8"))


def write_json(path, value, indent=1):
    """Write ``value`` as JSON to ``path`` atomically."""
    return write_text(path, json.dumps(value, indent=indent) + "\n")
